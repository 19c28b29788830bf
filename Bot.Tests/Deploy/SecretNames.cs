using System.Text.RegularExpressions;

namespace Bot.Tests.Deploy;

/// <summary>Which variables carry secrets, and whether a compose value is a reference rather than the secret itself.</summary>
internal static partial class SecretNames
{
    public static bool IsSecret(string variable) => SecretName().IsMatch(variable);

    /// <summary>
    /// True when a compose value holds no literal secret: the whole value is a ${VAR} substitution, or it is a
    /// connection string whose Password part is one.
    /// </summary>
    public static bool IsReference(string value) =>
        Substitution().IsMatch(value)
        || (value.Contains("Password=", StringComparison.OrdinalIgnoreCase)
            && PasswordPart().Matches(value).All(m => Substitution().IsMatch(m.Groups["value"].Value)));

    [GeneratedRegex("(Secret|Token|AesKey|ApiKey|Password|ConnectionStrings)", RegexOptions.IgnoreCase)]
    private static partial Regex SecretName();

    [GeneratedRegex(@"^\$\{[A-Za-z_][A-Za-z0-9_]*(:?[?-][^}]*)?\}$")]
    private static partial Regex Substitution();

    [GeneratedRegex("Password=(?<value>[^;]*)", RegexOptions.IgnoreCase)]
    private static partial Regex PasswordPart();
}
