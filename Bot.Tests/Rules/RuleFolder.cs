namespace Bot.Tests.Rules;

/// <summary>A temporary rules folder owned by one test.</summary>
internal sealed class RuleFolder : IDisposable
{
    public RuleFolder()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "wecombot-rules-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public RuleFolder Write(string name, string yaml)
    {
        System.IO.File.WriteAllText(File(name), yaml.ReplaceLineEndings("\n"));
        return this;
    }

    public static RuleFolder CopyOf(string source)
    {
        var folder = new RuleFolder();
        foreach (var file in Directory.GetFiles(source))
        {
            System.IO.File.Copy(file, folder.File(System.IO.Path.GetFileName(file)));
        }
        return folder;
    }

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
