using Bot.Core.Observability;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Bot.Host.Observability;

/// <summary>The `Observability` section.</summary>
public sealed class ObservabilityOptions
{
    public const string Section = "Observability";

    /// <summary>
    /// OTLP endpoint (e.g. http://otel-collector:4317) that receives traces across callback → rule → outbox → API
    /// call. Empty: no tracing, so no request pays for spans nobody collects.
    /// </summary>
    public string OtlpEndpoint { get; set; } = "";
}

public static class ObservabilityExtensions
{
    /// <summary>OpenTelemetry metrics for Prometheus at /metrics; traces to an OTLP collector when one is configured.</summary>
    public static IHostApplicationBuilder AddObservability(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<ObservabilityOptions>().BindConfiguration(ObservabilityOptions.Section);
        builder.Services.AddBotMetrics();
        builder.Services.AddHostedService<QueueSampler>();
        var telemetry = builder.Services.AddOpenTelemetry()
            .WithMetrics(metrics => metrics
                .AddMeter(BotMetrics.MeterName)
                .AddAspNetCoreInstrumentation()
                .AddPrometheusExporter());
        var otlp = builder.Configuration.GetSection(ObservabilityOptions.Section).Get<ObservabilityOptions>()?.OtlpEndpoint;
        if (!string.IsNullOrWhiteSpace(otlp))
        {
            telemetry.WithTracing(tracing => tracing
                .AddSource(BotMetrics.MeterName, "WeComBot.WeComApi")
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddOtlpExporter(exporter => exporter.Endpoint = new Uri(otlp)));
        }
        return builder;
    }

    public static IEndpointRouteBuilder MapObservability(this IEndpointRouteBuilder app)
    {
        app.MapPrometheusScrapingEndpoint("/metrics");
        return app;
    }
}
