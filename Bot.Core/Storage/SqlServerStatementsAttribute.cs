namespace Bot.Core.Storage;

/// <summary>
/// Marks a class whose <c>const string</c> fields are T-SQL. No SQL Server engine runs where this project is
/// built, so a test parses every such constant (and every SQL Server migration) with ScriptDom.
/// </summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class SqlServerStatementsAttribute : Attribute;
