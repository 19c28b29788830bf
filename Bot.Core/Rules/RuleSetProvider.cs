using Bot.Core.Observability;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Bot.Core.Rules;

/// <summary>What the provider has loaded and what it last refused.</summary>
public sealed record RuleSetStatus(
    string Version, DateTimeOffset LoadedAt, string? LastError, DateTimeOffset? LastErrorAt, int RejectedReloads,
    IReadOnlyList<RuleError> LastErrors);

public sealed class RuleSetChangedEventArgs(RuleSet previous, RuleSet current) : EventArgs
{
    public RuleSet Previous { get; } = previous;

    public RuleSet Current { get; } = current;
}

public sealed class RuleSetRejectedEventArgs(IReadOnlyList<RuleError> errors) : EventArgs
{
    public IReadOnlyList<RuleError> Errors { get; } = errors;
}

/// <summary>Thrown at start-up when the rule files do not load; the message lists every error.</summary>
public sealed class RuleLoadException(IReadOnlyList<RuleError> errors)
    : Exception($"The rule files have {errors.Count} error(s):{Environment.NewLine}{string.Join(Environment.NewLine, errors)}")
{
    public IReadOnlyList<RuleError> Errors { get; } = errors;
}

/// <summary>
/// Holds the live <see cref="RuleSet"/>. Loads at start (refusing to start on errors), then watches the folder and
/// reloads after a debounce; an invalid edit is refused and the last good set stays live (yarp's ProxyConfigManager).
/// </summary>
public sealed partial class RuleSetProvider : IHostedService, IDisposable
{
    private readonly RulesOptions _options;
    private readonly string _folder;
    private readonly TimeProvider _time;
    private readonly ILogger<RuleSetProvider> _logger;
    private readonly BotMetrics _metrics;
    private readonly Lock _reloadLock = new();
    private volatile RuleSet? _current;
    private volatile RuleSetStatus? _status;
    private FileSystemWatcher? _watcher;
    private ITimer? _debounce;

    public RuleSetProvider(IOptions<RulesOptions> options, IHostEnvironment environment, TimeProvider time, BotMetrics metrics,
        ILogger<RuleSetProvider> logger)
    {
        _options = options.Value;
        _folder = Path.GetFullPath(Path.Combine(environment.ContentRootPath, _options.Path));
        _time = time;
        _logger = logger;
        _metrics = metrics;
    }

    /// <summary>The live rule set; read it once per unit of work, so one event sees one version.</summary>
    public RuleSet Current => _current ?? throw new InvalidOperationException("The rules have not been loaded yet (the host has not started).");

    public RuleSetStatus Status => _status ?? throw new InvalidOperationException("The rules have not been loaded yet (the host has not started).");

    public string Folder => _folder;

    /// <summary>Raised after a reload swapped in a new set (on the watcher's thread).</summary>
    public event EventHandler<RuleSetChangedEventArgs>? Changed;

    /// <summary>Raised after a reload was refused; the previous set stays live.</summary>
    public event EventHandler<RuleSetRejectedEventArgs>? Rejected;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var result = RuleLoader.Load(_folder, _time, _options);
        if (result.RuleSet is not { } rules)
        {
            Log.FirstLoadFailed(_logger, _folder, result.Errors.Count, string.Join(Environment.NewLine, result.Errors));
            throw new RuleLoadException(result.Errors);
        }
        Apply(rules);
        _status = new RuleSetStatus(rules.Version, rules.LoadedAt, null, null, 0, []);

        _debounce = _time.CreateTimer(static state => ((RuleSetProvider)state!).ReloadGuarded(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        _watcher = new FileSystemWatcher(_folder)
        {
            NotifyFilter = NotifyFilters.FileName | NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.CreationTime,
            IncludeSubdirectories = false,
        };
        _watcher.Changed += OnFileEvent;
        _watcher.Created += OnFileEvent;
        _watcher.Deleted += OnFileEvent;
        _watcher.Renamed += OnFileEvent;
        _watcher.Error += OnWatcherError;
        _watcher.EnableRaisingEvents = true;
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        if (_watcher is not null)
        {
            _watcher.EnableRaisingEvents = false;
        }
        _debounce?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        _watcher?.Dispose();
        _debounce?.Dispose();
    }

    private void OnFileEvent(object sender, FileSystemEventArgs e)
    {
        // Every event in the folder counts, not only *.yaml ones: a Kubernetes ConfigMap update swaps a "..data"
        // symlink and never touches the rule files' own names. A reload that finds the same contents is a no-op.
        // Each event pushes the reload back, so an editor's truncate-then-write loads once, complete.
        _debounce?.Change(_options.ReloadDebounce, Timeout.InfiniteTimeSpan);
    }

    private void OnWatcherError(object sender, ErrorEventArgs e)
    {
        // The watcher's buffer overflowed (or the folder went away): we may have missed events, so reload anyway.
        Log.WatcherError(_logger, _folder, e.GetException());
        _debounce?.Change(_options.ReloadDebounce, Timeout.InfiniteTimeSpan);
    }

    private void ReloadGuarded()
    {
        try
        {
            Reload();
        }
        catch (Exception ex)
        {
            // A timer callback that throws would take the process down; the last good set stays live instead.
            _metrics.RulesReloaded("failed");
            Log.ReloadFailed(_logger, _folder, ex);
        }
    }

    private void Reload()
    {
        // Timer callbacks can overlap if a reload is slower than the debounce; one reload at a time.
        lock (_reloadLock)
        {
            var previous = Current;
            var result = RuleLoader.Load(_folder, _time, _options);
            if (result.RuleSet is not { } rules)
            {
                var status = Status;
                var now = _time.GetUtcNow();
                var text = string.Join(Environment.NewLine, result.Errors);
                _status = status with
                {
                    LastError = text, LastErrorAt = now, RejectedReloads = status.RejectedReloads + 1, LastErrors = result.Errors,
                };
                _metrics.RulesReloaded("rejected");
                Log.ReloadRejected(_logger, _folder, result.Errors.Count, previous.Version, text);
                Rejected?.Invoke(this, new RuleSetRejectedEventArgs(result.Errors));
                return;
            }
            if (rules.Version == previous.Version)
            {
                _metrics.RulesReloaded("unchanged");
                return;
            }
            Apply(rules);
            _status = Status with { Version = rules.Version, LoadedAt = rules.LoadedAt };
            _metrics.RulesReloaded("applied");
            Changed?.Invoke(this, new RuleSetChangedEventArgs(previous, rules));
        }
    }

    private void Apply(RuleSet rules)
    {
        _current = rules;
        Log.Loaded(_logger, rules.Version, rules.Summary(), rules.Warnings.Count);
        foreach (var warning in rules.Warnings)
        {
            Log.RuleWarning(_logger, warning.ToString());
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Rules {Version} loaded: {Summary}; {WarningCount} warning(s)")]
        public static partial void Loaded(ILogger logger, string version, string summary, int warningCount);

        [LoggerMessage(2, LogLevel.Warning, "Rule warning: {Warning}")]
        public static partial void RuleWarning(ILogger logger, string warning);

        [LoggerMessage(3, LogLevel.Critical, "Rules in {Folder} did not load ({ErrorCount} error(s)); refusing to start:\n{Errors}")]
        public static partial void FirstLoadFailed(ILogger logger, string folder, int errorCount, string errors);

        [LoggerMessage(4, LogLevel.Error, "Rule reload from {Folder} rejected ({ErrorCount} error(s)); version {Version} stays live:\n{Errors}")]
        public static partial void ReloadRejected(ILogger logger, string folder, int errorCount, string version, string errors);

        [LoggerMessage(5, LogLevel.Warning, "Rule folder watcher failed for {Folder}; reloading to catch up")]
        public static partial void WatcherError(ILogger logger, string folder, Exception exception);

        [LoggerMessage(6, LogLevel.Error, "Rule reload from {Folder} failed unexpectedly; the previous rules stay live")]
        public static partial void ReloadFailed(ILogger logger, string folder, Exception exception);
    }
}
