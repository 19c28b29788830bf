using Bot.Tests.Fixtures;

// No namespace: NUnit runs this once around the whole assembly.
[SetUpFixture]
public sealed class TestRunLifetime
{
    [OneTimeTearDown]
    public void StopSharedServers()
    {
        if (RedisTestServer.SharedStarted)
        {
            RedisTestServer.Shared.Dispose();
        }
    }
}
