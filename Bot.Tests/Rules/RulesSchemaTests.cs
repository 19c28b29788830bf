using System.Text.Json;
using Bot.Core.Rules;
using Bot.Tests.Fixtures;

namespace Bot.Tests.Rules;

/// <summary>Keeps rules/rules.schema.json in step with the loader's one table of fields (RuleFields).</summary>
public sealed class RulesSchemaTests
{
    private static readonly JsonElement Schema = JsonDocument.Parse(File.ReadAllText(RepoFiles.Path("rules", "rules.schema.json"))).RootElement;

    [Test]
    public void Schema_sections_are_the_loader_sections()
    {
        Assert.That(PropertyNames(Schema), Is.EquivalentTo(RuleFields.Sections.Keys));
        Assert.That(Schema.GetProperty("$schema").GetString(), Is.EqualTo("https://json-schema.org/draft/2020-12/schema"));
    }

    [TestCaseSource(nameof(SectionNames))]
    public void Schema_fields_of_a_section_equal_the_fields_the_loader_accepts_at_every_depth(string section)
    {
        var rule = Resolve(Resolve(Schema.GetProperty("properties").GetProperty(section)).GetProperty("items"));
        var mismatches = new List<string>();
        Compare(section, RuleFields.Sections[section], rule, mismatches);

        Assert.That(mismatches, Is.Empty, string.Join("\n", mismatches));
    }

    [Test]
    public void Every_rule_field_in_the_schema_has_a_description_or_a_described_definition()
    {
        var undescribed = new List<string>();
        foreach (var section in SectionNames())
        {
            var rule = Resolve(Resolve(Schema.GetProperty("properties").GetProperty(section)).GetProperty("items"));
            foreach (var property in rule.GetProperty("properties").EnumerateObject())
            {
                if (!property.Value.TryGetProperty("description", out _) && !Resolve(property.Value).TryGetProperty("description", out _)
                    && property.Name is not ("message" or "prizes" or "posts" or "eligible" or "when" or "tags"))
                {
                    undescribed.Add($"{section}.{property.Name}");
                }
            }
        }
        Assert.That(undescribed, Is.Empty);
    }

    public static IEnumerable<string> SectionNames() => RuleFields.SectionOrder;

    private static void Compare(string path, Shape shape, JsonElement schemaObject, List<string> mismatches)
    {
        var schemaNames = PropertyNames(schemaObject).ToHashSet();
        var loaderNames = shape.Fields.Keys.ToHashSet();
        foreach (var missing in loaderNames.Except(schemaNames))
        {
            mismatches.Add($"{path}.{missing}: accepted by the loader, missing from the schema");
        }
        foreach (var extra in schemaNames.Except(loaderNames))
        {
            mismatches.Add($"{path}.{extra}: in the schema, not accepted by the loader");
        }
        foreach (var field in shape.Fields.Values.Where(f => f.Child is not null && schemaNames.Contains(f.Name)))
        {
            var property = Resolve(schemaObject.GetProperty("properties").GetProperty(field.Name));
            var child = field.Kind == FieldKind.SequenceOfMappings ? Resolve(property.GetProperty("items")) : property;
            Compare($"{path}.{field.Name}", field.Child!, child, mismatches);
        }
    }

    private static IEnumerable<string> PropertyNames(JsonElement schemaObject) =>
        schemaObject.TryGetProperty("properties", out var properties) ? properties.EnumerateObject().Select(p => p.Name) : [];

    private static JsonElement Resolve(JsonElement element)
    {
        while (element.TryGetProperty("$ref", out var reference))
        {
            var name = reference.GetString()!["#/$defs/".Length..];
            element = Schema.GetProperty("$defs").GetProperty(name);
        }
        return element;
    }
}
