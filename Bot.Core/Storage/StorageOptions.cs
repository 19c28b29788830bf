using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Bot.Core.Storage;

public enum StorageProvider
{
    Sqlite,
    SqlServer,
}

/// <summary>The `Storage` section; the connection string itself is `ConnectionStrings:Bot`.</summary>
public sealed class StorageOptions
{
    public const string Section = "Storage";

    public StorageProvider Provider { get; set; } = StorageProvider.Sqlite;

    /// <summary>Bound from `ConnectionStrings:Bot`. SQLite default: a file in the data folder.</summary>
    [Required]
    public string ConnectionString { get; set; } = "Data Source=data/bot.db";
}

[OptionsValidator]
internal sealed partial class StorageOptionsValidator : IValidateOptions<StorageOptions>;
