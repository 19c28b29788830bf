namespace Bot.Tests.Fixtures;

/// <summary>Finds files of this repository (the folder holding WeComBot.sln).</summary>
public static class RepoFiles
{
    public static string Root { get; } = Find();

    public static string Path(params string[] parts) => System.IO.Path.Combine([Root, .. parts]);

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "WeComBot.sln")))
            {
                return dir.FullName;
            }
        }
        throw new DirectoryNotFoundException("WeComBot.sln was not found above the test binaries");
    }
}
