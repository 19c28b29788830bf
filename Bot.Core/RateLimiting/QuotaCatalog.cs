using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace Bot.Core.RateLimiting;

/// <summary>
/// Turns a <see cref="QuotaSubject"/> into the quota counters it must pass, from the `Quotas` configuration: every
/// rule whose API list matches and whose key pattern the subject can fill.
/// </summary>
public sealed class QuotaCatalog
{
    private readonly CompiledRule[] _rules;
    private readonly QuotaCalendarClock _clock;
    private readonly TimeProvider _time;
    private readonly MassMessageReceivingRule _receivingRule;

    /// <summary>The built-in rules in Asia/Shanghai with the system clock.</summary>
    public QuotaCatalog()
        : this(Options.Create(new QuotaOptions()), TimeProvider.System)
    {
    }

    public QuotaCatalog(IOptions<QuotaOptions> options, TimeProvider time)
    {
        var value = options.Value;
        _clock = QuotaCalendarClock.From(value);
        _time = time;
        _receivingRule = value.MassMessageReceivingRule;
        var rules = new List<CompiledRule>();
        foreach (var (name, rule) in value.EffectiveRules())
        {
            if (!QuotaKeyPattern.TryParse(rule.Key, out var pattern, out var error))
            {
                throw new OptionsValidationException(name, typeof(QuotaOptions), [$"Quotas:Rules:{name}:Key {error}"]);
            }
            if (!QuotaRuleWindow.TryParse(rule.Window, out var window))
            {
                throw new OptionsValidationException(name, typeof(QuotaOptions), [$"Quotas:Rules:{name}:Window is invalid"]);
            }
            var apis = rule.Apis.Length == 0 ? null : new HashSet<string>(rule.Apis, StringComparer.Ordinal);
            rules.Add(new CompiledRule(name, pattern, rule.Limit, window, apis));
        }
        _rules = [.. rules];
    }

    public IReadOnlyList<QuotaLimit> LimitsFor(QuotaSubject subject)
    {
        ArgumentNullException.ThrowIfNull(subject);
        var values = new SubjectValues(subject);
        var limits = new List<QuotaLimit>();
        foreach (var rule in _rules)
        {
            if (rule.Apis is not null && !rule.Apis.Contains(subject.Api))
            {
                continue;
            }
            var (limit, window) = Resolve(rule);
            foreach (var key in rule.Pattern.Expand(rule.Name, values))
            {
                limits.Add(window.Calendar == QuotaCalendar.None
                    ? new QuotaLimit(key, limit, window.Sliding)
                    : QuotaLimit.PerCalendar(key, limit, window.Calendar) with { IsReceivingRule = rule.Window.IsReceivingRule });
            }
        }
        return limits;
    }

    /// <summary>
    /// The receiving-rule counters (<c>Window: ReceivingRule</c>) <paramref name="subject"/> passes, each with the end
    /// of the period holding <paramref name="at"/>: what WeCom's "already received another mass message" fills up.
    /// </summary>
    public IReadOnlyList<(QuotaKey Key, DateTimeOffset PeriodEnd)> ReceivingRulePeriodsFor(QuotaSubject subject, DateTimeOffset at) =>
        [.. LimitsFor(subject).Where(l => l.IsReceivingRule).Select(l =>
            (l.Key, DateTimeOffset.FromUnixTimeMilliseconds(_clock.PeriodOf(l.Calendar, at.ToUnixTimeMilliseconds()).EndMs)))];

    private (int Limit, QuotaRuleWindow Window) Resolve(CompiledRule rule)
    {
        if (!rule.Window.IsReceivingRule)
        {
            return (rule.Limit, rule.Window);
        }
        // The month is the one the send falls in; the limiter counts it in the same zone, so they agree.
        var (limit, period) = _clock.ReceivingAllowance(_receivingRule, _time.GetUtcNow());
        return (limit, QuotaRuleWindow.Of(period));
    }

    private sealed record CompiledRule(string Name, QuotaKeyPattern Pattern, int Limit, QuotaRuleWindow Window, HashSet<string>? Apis);
}

/// <summary>The values a subject offers to key patterns.</summary>
internal sealed class SubjectValues(QuotaSubject subject)
{
    private string? _robot;

    public QuotaSubject Subject => subject;

    /// <summary>
    /// A webhook key is a credential (anyone holding it can post), so counters and logs carry a digest of it instead.
    /// </summary>
    public string? Robot => subject.RobotKey is { Length: > 0 } key
        ? _robot ??= Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)).AsSpan(0, 8))
        : null;
}

internal enum QuotaPlaceholder
{
    Api,
    Sender,
    Chat,
    Customer,
    Robot,
    Recipient,
}

/// <summary>A parsed key pattern such as "{sender}/{chat}".</summary>
internal sealed class QuotaKeyPattern
{
    private static readonly Dictionary<string, QuotaPlaceholder> Names = new(StringComparer.Ordinal)
    {
        ["api"] = QuotaPlaceholder.Api,
        ["sender"] = QuotaPlaceholder.Sender,
        ["chat"] = QuotaPlaceholder.Chat,
        ["customer"] = QuotaPlaceholder.Customer,
        ["robot"] = QuotaPlaceholder.Robot,
        ["recipient"] = QuotaPlaceholder.Recipient,
    };

    private readonly (string? Literal, QuotaPlaceholder Placeholder)[] _parts;
    private readonly QuotaPlaceholder? _multi;

    private QuotaKeyPattern((string?, QuotaPlaceholder)[] parts, QuotaPlaceholder? multi)
    {
        _parts = parts;
        _multi = multi;
    }

    public static bool TryParse(string text, out QuotaKeyPattern pattern, out string error)
    {
        pattern = null!;
        var parts = new List<(string?, QuotaPlaceholder)>();
        QuotaPlaceholder? multi = null;
        var i = 0;
        while (i < text.Length)
        {
            var open = text.IndexOf('{', i);
            if (open < 0)
            {
                parts.Add((text[i..], default));
                break;
            }
            if (open > i)
            {
                parts.Add((text[i..open], default));
            }
            var close = text.IndexOf('}', open);
            if (close < 0)
            {
                error = "has a '{' without its '}'.";
                return false;
            }
            var name = text[(open + 1)..close];
            if (!Names.TryGetValue(name, out var placeholder))
            {
                error = $"has an unknown placeholder {{{name}}}; use api, sender, chat, customer, robot or recipient.";
                return false;
            }
            if (placeholder is QuotaPlaceholder.Chat or QuotaPlaceholder.Customer)
            {
                if (multi is not null && multi != placeholder)
                {
                    error = "cannot use both {chat} and {customer}.";
                    return false;
                }
                multi = placeholder;
            }
            parts.Add((null, placeholder));
            i = close + 1;
        }
        if (parts.Count == 0)
        {
            error = "is empty.";
            return false;
        }
        pattern = new QuotaKeyPattern([.. parts], multi);
        error = "";
        return true;
    }

    public IEnumerable<QuotaKey> Expand(string rule, SubjectValues values)
    {
        foreach (var (literal, placeholder) in _parts)
        {
            if (literal is null && placeholder != _multi && string.IsNullOrEmpty(Single(placeholder, values)))
            {
                yield break;
            }
        }
        if (_multi is null)
        {
            yield return new QuotaKey(rule, Build(values, null));
            yield break;
        }
        var list = _multi == QuotaPlaceholder.Chat ? values.Subject.ChatIds : values.Subject.ExternalUserIds;
        if (list is null)
        {
            yield break;
        }
        // One counter per distinct id: a duplicate id would otherwise be counted twice by one decision.
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var id in list)
        {
            if (!string.IsNullOrEmpty(id) && seen.Add(id))
            {
                yield return new QuotaKey(rule, Build(values, id));
            }
        }
    }

    private string Build(SubjectValues values, string? multiValue)
    {
        var builder = new StringBuilder();
        foreach (var (literal, placeholder) in _parts)
        {
            builder.Append(literal ?? (placeholder == _multi ? multiValue : Single(placeholder, values)));
        }
        return builder.ToString();
    }

    private static string? Single(QuotaPlaceholder placeholder, SubjectValues values) => placeholder switch
    {
        QuotaPlaceholder.Api => values.Subject.Api,
        QuotaPlaceholder.Sender => values.Subject.Sender,
        QuotaPlaceholder.Robot => values.Robot,
        QuotaPlaceholder.Recipient => values.Subject.AppRecipient,
        _ => null,
    };
}

/// <summary>A rule's window: sliding, a calendar period, or the tenant's mass-message receiving rule.</summary>
internal readonly record struct QuotaRuleWindow(TimeSpan Sliding, QuotaCalendar Calendar, bool IsReceivingRule)
{
    public const string ReceivingRuleName = "ReceivingRule";

    public static QuotaRuleWindow Of(QuotaCalendar calendar) => new(TimeSpan.Zero, calendar, false);

    public static bool TryParse(string? text, out QuotaRuleWindow window)
    {
        window = default;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }
        if (string.Equals(text, ReceivingRuleName, StringComparison.OrdinalIgnoreCase))
        {
            window = new QuotaRuleWindow(TimeSpan.Zero, QuotaCalendar.None, true);
            return true;
        }
        if (Enum.TryParse<QuotaCalendar>(text, ignoreCase: true, out var calendar) && calendar != QuotaCalendar.None
            && !char.IsDigit(text[0]))
        {
            window = Of(calendar);
            return true;
        }
        if (TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var sliding) && sliding > TimeSpan.Zero)
        {
            window = new QuotaRuleWindow(sliding, QuotaCalendar.None, false);
            return true;
        }
        return false;
    }
}
