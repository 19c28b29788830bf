using System.Xml;

namespace Bot.Core.WeCom.Callbacks;

/// <summary>XmlReader settings for hostile input, shared by the envelope and the decrypted payload.</summary>
internal static class CallbackXml
{
    public static XmlReaderSettings Settings(long maxCharacters) => new()
    {
        DtdProcessing = DtdProcessing.Prohibit,
        XmlResolver = null,
        // 0 would mean "unlimited" here, not "none"; with DTDs prohibited no entity can be declared anyway.
        MaxCharactersFromEntities = 1,
        MaxCharactersInDocument = maxCharacters,
        IgnoreComments = true,
        IgnoreProcessingInstructions = true,
        CloseInput = true,
    };

    // XmlReader reports a prohibited DTD only through an XmlException message; the raw bytes say it reliably.
    // XML spells the keyword in upper case, so an ordinal search is exact.
    public static bool HasDoctype(ReadOnlySpan<byte> utf8) => utf8.IndexOf("<!DOCTYPE"u8) >= 0;

    public static bool HasDoctype(string xml) => xml.Contains("<!DOCTYPE", StringComparison.Ordinal);
}
