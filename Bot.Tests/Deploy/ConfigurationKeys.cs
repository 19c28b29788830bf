using System.Collections;
using System.ComponentModel.DataAnnotations;
using System.Reflection;
using Bot.Core.WeCom;
using Microsoft.Extensions.Configuration;
using Bot.Tests.Fixtures;

namespace Bot.Tests.Deploy;

/// <summary>
/// The configuration keys the host understands, derived in one place: every options class (a class with a
/// <c>public const string Section</c>) in Bot.Core and Bot.Host, the repository's appsettings.json, and the few keys
/// bound outside an options section. Deployment files are checked against this list, so it follows the code.
/// </summary>
internal static class ConfigurationKeys
{
    /// <summary>
    /// Keys the deployment files use whose options classes are being written on other branches. Delete an entry once
    /// its class lands; <see cref="ConfigurationKeyTests"/> fails until then as the reminder.
    /// </summary>
    public static IReadOnlyList<string> Awaited { get; } = [];

    // StorageServiceCollectionExtensions binds StorageOptions.ConnectionString from GetConnectionString("Bot").
    private static readonly string[] BoundOutsideSections = ["ConnectionStrings:Bot"];

    private static readonly Assembly[] OptionsAssemblies = [typeof(WeComOptions).Assembly, typeof(Program).Assembly];

    /// <summary>Keys declared by options classes; a key ending in ":*" stands for any key below it (collections).</summary>
    public static IReadOnlySet<string> FromOptionsClasses { get; } = OptionsClasses()
        .SelectMany(c => KeysOf(c.Type, c.Section, depth: 0))
        .ToHashSet(StringComparer.OrdinalIgnoreCase);

    public static IReadOnlySet<string> FromAppSettings { get; } = new ConfigurationBuilder()
        .AddJsonFile(RepoFiles.Path("appsettings.json"), optional: false)
        .Build()
        .AsEnumerable()
        .Where(pair => pair.Value is not null)
        .Select(pair => pair.Key)
        .ToHashSet(StringComparer.OrdinalIgnoreCase);

    private static IReadOnlySet<string> Known { get; } = FromOptionsClasses
        .Concat(FromAppSettings)
        .Concat(BoundOutsideSections)
        .Concat(Awaited)
        .ToHashSet(StringComparer.OrdinalIgnoreCase);

    public static bool IsKnown(string key) =>
        Known.Contains(key)
        || Known.Any(k => k.EndsWith(":*", StringComparison.Ordinal)
                          && key.StartsWith(k[..^1], StringComparison.OrdinalIgnoreCase));

    /// <summary>`[Required]` keys whose default is empty: every deployment form has to supply them.</summary>
    public static IReadOnlyList<string> RequiredWithoutDefault { get; } = OptionsClasses()
        .SelectMany(c =>
        {
            var defaults = Activator.CreateInstance(c.Type);
            return c.Type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
                .Where(p => p.IsDefined(typeof(RequiredAttribute)) && p.GetValue(defaults) is null or "")
                .Select(p => $"{c.Section}:{p.Name}");
        })
        .Order(StringComparer.Ordinal)
        .ToList();

    /// <summary>`WeCom__CorpId` → `WeCom:CorpId`, the way the environment-variables provider reads it.</summary>
    public static string FromEnvironmentName(string name) => name.Replace("__", ":", StringComparison.Ordinal);

    /// <summary>Whether an environment variable name has the `Section__Key` shape of a configuration key.</summary>
    public static bool LooksLikeConfigKey(string name) =>
        name.Contains("__", StringComparison.Ordinal)
        && name.Split("__").All(part => part.Length > 0 && char.IsLetter(part[0]) && part.All(char.IsLetterOrDigit));

    private static IEnumerable<(Type Type, string Section)> OptionsClasses() =>
        from assembly in OptionsAssemblies
        from type in assembly.GetTypes()
        let field = type.GetField("Section", BindingFlags.Public | BindingFlags.Static)
        where type.IsClass && !type.IsAbstract && field is { IsLiteral: true } && field.FieldType == typeof(string)
        select (type, (string)field.GetRawConstantValue()!);

    private static IEnumerable<string> KeysOf(Type type, string prefix, int depth)
    {
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (property.GetIndexParameters().Length > 0 || property.GetMethod is not { IsPublic: true })
            {
                continue;
            }
            var key = $"{prefix}:{property.Name}";
            var propertyType = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
            if (IsScalar(propertyType))
            {
                // Computed read-only properties (RedisOptions.Enabled) are not configuration.
                if (property.SetMethod is { IsPublic: true })
                {
                    yield return key;
                }
            }
            else if (typeof(IEnumerable).IsAssignableFrom(propertyType))
            {
                yield return key + ":*";
            }
            else if (propertyType.IsClass && depth < 4)
            {
                foreach (var nested in KeysOf(propertyType, key, depth + 1))
                {
                    yield return nested;
                }
            }
        }
    }

    private static bool IsScalar(Type type) =>
        type.IsPrimitive || type.IsEnum || type == typeof(string) || type == typeof(decimal) || type == typeof(TimeSpan)
        || type == typeof(DateTime) || type == typeof(DateTimeOffset) || type == typeof(Guid) || type == typeof(Uri)
        || type == typeof(TimeOnly) || type == typeof(DateOnly);
}
