using Bot.Core.WeCom.Api;

namespace Bot.Tests.WeCom.Api;

public sealed class WeComErrorCodesTests
{
    [TestCase(40014, WeComErrorClass.TokenInvalid)]
    [TestCase(42001, WeComErrorClass.TokenInvalid)]
    [TestCase(41001, WeComErrorClass.TokenInvalid)]
    [TestCase(45009, WeComErrorClass.RateLimited)]
    [TestCase(45033, WeComErrorClass.RateLimited)]
    [TestCase(-1, WeComErrorClass.Transient)]
    [TestCase(41096, WeComErrorClass.Transient)]
    [TestCase(40001, WeComErrorClass.Configuration)]
    [TestCase(48002, WeComErrorClass.Configuration)]
    [TestCase(60011, WeComErrorClass.Configuration)]
    [TestCase(84074, WeComErrorClass.Configuration)]
    [TestCase(40058, WeComErrorClass.Permanent)]
    [TestCase(40096, WeComErrorClass.Permanent)]
    [TestCase(41051, WeComErrorClass.Permanent)]
    [TestCase(84061, WeComErrorClass.Permanent)]
    // FACTS §7: robot webhook invalid or removed from the group is a configuration problem (issue 14 item 7: it was Permanent).
    [TestCase(93000, WeComErrorClass.Configuration)]
    public void Error_codes_are_classified_as_FACTS_section_7_advises(int errCode, WeComErrorClass expected) =>
        Assert.That(WeComErrorCodes.Classify(errCode), Is.EqualTo(expected));

    // A response_url carries no token and no app setting: any refusal but a limit or "busy" means the URL is spent.
    [TestCase(45009, WeComErrorClass.RateLimited)]
    [TestCase(-1, WeComErrorClass.Transient)]
    [TestCase(40014, WeComErrorClass.Permanent)]
    [TestCase(40001, WeComErrorClass.Permanent)]
    [TestCase(40058, WeComErrorClass.Permanent)]
    [TestCase(123456, WeComErrorClass.Permanent)]
    public void Response_url_refusals_are_classified_as_spent_unless_a_limit_or_busy(int errCode, WeComErrorClass expected) =>
        Assert.That(WeComErrorCodes.ClassifyResponseUrl(errCode), Is.EqualTo(expected));

    // Answered refusals and calls that never left are not applied; -1, a 5xx or not-JSON reply and a timeout may have been.
    [TestCase(WeComErrorCodes.FrequencyLimited, true)]
    [TestCase(WeComErrorCodes.ConcurrencyLimited, true)]
    [TestCase(WeComErrorCodes.InvalidExternalUserId, true)]
    [TestCase(WeComErrorCodes.CustomerAlreadyChatting, true)]
    [TestCase(WeComErrorCodes.AccessTokenExpired, true)]
    [TestCase(WeComErrorCodes.ConnectionFailed, true)]
    [TestCase(WeComErrorCodes.CircuitOpen, true)]
    [TestCase(WeComErrorCodes.HttpRejected, true)]
    [TestCase(WeComErrorCodes.Ok, false)]
    [TestCase(WeComErrorCodes.SystemBusy, false)]
    [TestCase(WeComErrorCodes.HttpFailure, false)]
    [TestCase(WeComErrorCodes.Timeout, false)]
    public void Only_a_refusal_or_a_call_that_never_left_is_known_not_applied(int errCode, bool notApplied) =>
        Assert.That(WeComErrorCodes.NotApplied(errCode), Is.EqualTo(notApplied));

    [Test]
    public void Frequency_limit_holds_the_api_back_for_the_minute_penalty()
    {
        var error = new WeComApiException("webhook/send", WeComErrorCodes.FrequencyLimited, "api freq out of limit");

        Assert.That((error.Class, error.RetryAfter), Is.EqualTo((WeComErrorClass.RateLimited, (TimeSpan?)TimeSpan.FromSeconds(60))));
    }
}
