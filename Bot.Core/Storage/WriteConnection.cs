using System.Data.Common;

namespace Bot.Core.Storage;

/// <summary>
/// An open connection for writing that holds this process's write turn (see <see cref="BotDatabase.OpenWriteAsync"/>).
/// Disposing it closes the connection, then lets the next writer in.
/// </summary>
public sealed class WriteConnection : IAsyncDisposable
{
    private readonly WriteTurns? _turns;
    private bool _disposed;

    internal WriteConnection(DbConnection connection, WriteTurns? turns)
    {
        Connection = connection;
        _turns = turns;
    }

    public DbConnection Connection { get; }

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        try
        {
            await Connection.DisposeAsync();
        }
        finally
        {
            _turns?.Exit();
        }
    }
}
