namespace Bot.Host.Admin;

/// <summary>The `Admin` section. With no ApiKey the admin surface is closed (404), never open.</summary>
public sealed class AdminOptions
{
    public const string Section = "Admin";

    /// <summary>Sent by operators as the `X-Admin-Key` header (or `Authorization: Bearer KEY`; the status page alone also takes `?key=`). Never logged.</summary>
    public string ApiKey { get; set; } = "";

    public bool Enabled => !string.IsNullOrEmpty(ApiKey);
}
