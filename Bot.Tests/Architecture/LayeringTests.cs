using System.Text.RegularExpressions;
using Bot.Tests.Fixtures;

namespace Bot.Tests.Architecture;

/// <summary>
/// Keeps Bot.Core's rooms pointing one way. A room may name (by <c>using</c>, a fully qualified name or a sibling-qualified
/// type) only the rooms after it in <see cref="Order"/>; docs/ARCHITECTURE.md draws the same order.
/// </summary>
public sealed partial class LayeringTests
{
    /// <summary>Top to bottom: callbacks come in at the top, WeCom calls go out near the bottom.</summary>
    private static readonly string[] Order =
    [
        "Inbox", "Handling", "Campaigns", "Rules", "Outbox", "Contacts", "Groups", "RateLimiting", "WeCom", "Redis", "Storage", "Observability",
    ];

    [Test]
    public void Every_room_of_Bot_Core_has_its_place_in_the_order()
    {
        var rooms = Directory.GetDirectories(RepoFiles.Path("Bot.Core"))
            .Select(Path.GetFileName)
            .Where(name => name is not ("bin" or "obj" or "Properties"))
            .Order(StringComparer.Ordinal)
            .ToList();

        Assert.That(rooms, Is.EquivalentTo(Order), "a new folder in Bot.Core must take its place in the order here and in docs/ARCHITECTURE.md");
    }

    [Test]
    public void No_room_names_a_room_above_it()
    {
        var rank = Order.Select((room, index) => (room, index)).ToDictionary(x => x.room, x => x.index, StringComparer.Ordinal);
        var types = Order.ToDictionary(room => room, DeclaredTypes, StringComparer.Ordinal);
        var backEdges = new List<string>();
        foreach (var room in Order)
        {
            foreach (var file in SourceFiles(room))
            {
                var code = WithoutLineComments(File.ReadAllText(file));
                foreach (var target in NamedRooms(code, room, types))
                {
                    if (rank[target] < rank[room])
                    {
                        backEdges.Add($"{Path.GetRelativePath(RepoFiles.Root, file)}: {room} -> {target}");
                    }
                }
            }
        }

        Assert.That(backEdges, Is.Empty, "these files reach back up the order " + string.Join(" -> ", Order));
    }

    [Test]
    public void The_architecture_notes_draw_the_same_order()
    {
        var notes = File.ReadAllText(RepoFiles.Path("docs", "ARCHITECTURE.md"));

        Assert.That(notes, Does.Contain(string.Join(" → ", Order)));
    }

    [Test]
    public void A_back_edge_is_seen_through_a_using_a_full_name_and_a_sibling_qualified_type()
    {
        var types = new Dictionary<string, IReadOnlySet<string>>(StringComparer.Ordinal)
        {
            ["Groups"] = new HashSet<string>(["CustomerGroupStore"]),
            ["Outbox"] = new HashSet<string>(["OutboxKinds"]),
            ["Handling"] = new HashSet<string>(["CallbackHandler"]),
        };

        Assert.Multiple(() =>
        {
            Assert.That(NamedRooms("using Bot.Core.Outbox;\nclass A {}", "Contacts", types), Is.EquivalentTo(new[] { "Outbox" }));
            Assert.That(NamedRooms("var x = Bot.Core.Handling.CallbackHandler.X;", "Outbox", types), Is.EquivalentTo(new[] { "Handling" }));
            Assert.That(NamedRooms("var g = (Groups.CustomerGroupStore)s;", "Campaigns", types), Is.EquivalentTo(new[] { "Groups" }));
            // A word that only looks like a room (no such type there) and the file's own room are not edges.
            Assert.That(NamedRooms("var g = Groups.Count; using Bot.Core.Contacts;", "Contacts", types), Is.Empty);
            Assert.That(NamedRooms(WithoutLineComments("int a; // see Bot.Core.Outbox.OutboxKinds"), "Contacts", types), Is.Empty);
        });
    }

    private static IEnumerable<string> SourceFiles(string room) =>
        Directory.EnumerateFiles(RepoFiles.Path("Bot.Core", room), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal));

    private static IReadOnlySet<string> DeclaredTypes(string room) =>
        SourceFiles(room)
            .SelectMany(f => TypeDeclaration().Matches(File.ReadAllText(f)).Select(m => m.Groups["name"].Value))
            .ToHashSet(StringComparer.Ordinal);

    private static HashSet<string> NamedRooms(string code, string room, IReadOnlyDictionary<string, IReadOnlySet<string>> types)
    {
        var named = new HashSet<string>(StringComparer.Ordinal);
        foreach (Match m in CoreNamespace().Matches(code))
        {
            named.Add(m.Groups["room"].Value);
        }
        foreach (var (other, declared) in types)
        {
            foreach (Match m in Regex.Matches(code, $@"(?<![\w.]){other}\.(?<type>[A-Z]\w*)"))
            {
                if (declared.Contains(m.Groups["type"].Value))
                {
                    named.Add(other);
                }
            }
        }
        named.Remove(room);
        named.IntersectWith(types.Keys);
        return named;
    }

    // A comment may mention another room freely; doc comments (///) stay, since their crefs bind to the type.
    private static string WithoutLineComments(string code) => LineComment().Replace(code, "");

    [GeneratedRegex(@"\bBot\.Core\.(?<room>[A-Za-z]+)\b")]
    private static partial Regex CoreNamespace();

    [GeneratedRegex(@"\b(?:class|record|struct|interface|enum)\s+(?<name>[A-Z]\w*)")]
    private static partial Regex TypeDeclaration();

    [GeneratedRegex(@"(?<![/:""])//(?!/).*$", RegexOptions.Multiline)]
    private static partial Regex LineComment();
}
