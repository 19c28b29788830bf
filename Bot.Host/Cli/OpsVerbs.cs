using Bot.Core.WeCom;
using Bot.Core.WeCom.Callbacks;

namespace Bot.Host.Cli;

/// <summary>The container and set-up helpers: healthcheck, sample-callback.</summary>
internal static class OpsVerbs
{
    internal static int SampleCallback(string baseUrl, TextWriter output)
    {
        var configuration = BotCommands.CommandHostBuilder().Configuration;
        var options = configuration.GetSection(WeComOptions.Section).Get<WeComOptions>() ?? new WeComOptions();
        var crypto = new CallbackCrypto(options.Token, options.EncodingAesKey, options.CorpId);
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
        var nonce = Random.Shared.Next(100_000, 999_999).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var plaintext = $"<xml><ToUserName><![CDATA[{options.CorpId}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName><CreateTime>{now}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[add_external_contact]]></ChangeType><UserID><![CDATA[guide01]]></UserID><ExternalUserID><![CDATA[wmSAMPLE{nonce}]]></ExternalUserID><State><![CDATA[store-sh-001]]></State><WelcomeCode><![CDATA[SAMPLECODE{nonce}]]></WelcomeCode></xml>";
        var encrypt = crypto.Encrypt(plaintext);
        var signature = crypto.Sign(now, nonce, encrypt);
        var body = $"<xml><ToUserName><![CDATA[{options.CorpId}]]></ToUserName><AgentID><![CDATA[{options.AgentId}]]></AgentID><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>";
        output.WriteLine($"curl -i -X POST '{baseUrl.TrimEnd('/')}/wecom/callback?msg_signature={signature}&timestamp={now}&nonce={nonce}' --data-binary '{body}'");
        return 0;
    }

    internal static async Task<int> HealthCheckAsync(string url, TextWriter error)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(3) };
        try
        {
            using var response = await http.GetAsync(url);
            return response.IsSuccessStatusCode ? 0 : 1;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            error.WriteLine($"healthcheck: {url}: {ex.Message}");
            return 1;
        }
    }
}
