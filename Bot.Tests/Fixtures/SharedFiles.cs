namespace Bot.Tests.Fixtures;

/// <summary>Finds the `shared/` folder that sits beside the repository (WeCom vectors, example rules).</summary>
public static class SharedFiles
{
    public static string Root { get; } = Find();

    public static string Path(params string[] parts) => System.IO.Path.Combine([Root, .. parts]);

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = System.IO.Path.Combine(dir.FullName, "shared", "wecom");
            if (Directory.Exists(candidate))
            {
                return System.IO.Path.Combine(dir.FullName, "shared");
            }
        }
        throw new DirectoryNotFoundException("shared/ (with wecom/) was not found beside the repository");
    }
}
