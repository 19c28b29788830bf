using Bot.Core.Observability;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Bot.Web.Observability;

public static class ObservabilityExtensions
{
    /// <summary>OpenTelemetry metrics for Prometheus at /metrics, traces across callback → rule → outbox → API call.</summary>
    public static IHostApplicationBuilder AddObservability(this IHostApplicationBuilder builder)
    {
        builder.Services.AddSingleton<BotMetrics>();
        builder.Services.AddHostedService<QueueSampler>();
        builder.Services.AddOpenTelemetry()
            .WithMetrics(metrics => metrics
                .AddMeter(BotMetrics.MeterName, "WeComBot.Inbox")
                .AddAspNetCoreInstrumentation()
                .AddPrometheusExporter())
            .WithTracing(tracing => tracing
                .AddSource(BotMetrics.MeterName, "WeComBot.WeComApi")
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation());
        return builder;
    }

    public static IEndpointRouteBuilder MapObservability(this IEndpointRouteBuilder app)
    {
        app.MapPrometheusScrapingEndpoint("/metrics");
        return app;
    }
}
