using System.Buffers;
using System.IO.Pipelines;

namespace Inference.Worker.Ollama;

/// <summary>
/// Reads NDJSON lines from a backend response, with a limit on silence: the first line may take
/// <paramref name="firstLineTimeout"/> (the model may be loading), every later one <paramref name="idleTimeout"/>.
/// </summary>
public sealed class NdjsonReader(Stream stream, TimeSpan firstLineTimeout, TimeSpan idleTimeout) : IAsyncDisposable
{
    private bool _firstLineRead;

    private const int MaxLineBytes = 1 << 20;
    private readonly PipeReader _reader = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 16 * 1024));

    /// <returns>The next chunk, or null at the end of the stream.</returns>
    public async ValueTask<OllamaChunk?> ReadAsync(CancellationToken cancellationToken)
    {
        var idle = IdleSource(cancellationToken);
        idle.CancelAfter(_firstLineRead ? idleTimeout : firstLineTimeout);
        try
        {
            return await ReadLineAsync(idle.Token, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            // Stop the clock between reads: a slow consumer is not a silent backend.
            idle.TryReset();
        }
    }

    // One linked source per reader, its timer re-armed for each line (a source and a timer per
    // line were a tenth of the worker's allocations). A source the timer cancelled cannot be
    // reset, so a new one replaces it.
    private CancellationTokenSource? _idle;
    private CancellationToken _idleLinkedTo;

    private CancellationTokenSource IdleSource(CancellationToken cancellationToken)
    {
        if (_idle is { } idle && _idleLinkedTo == cancellationToken && !idle.IsCancellationRequested) return idle;
        _idle?.Dispose();
        _idleLinkedTo = cancellationToken;
        return _idle = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
    }

    private async ValueTask<OllamaChunk?> ReadLineAsync(CancellationToken idleToken, CancellationToken cancellationToken)
    {
        while (true)
        {
            ReadResult result;
            try
            {
                result = await _reader.ReadAsync(idleToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException("The backend went silent.");
            }
            var buffer = result.Buffer;
            var newline = buffer.PositionOf((byte)'\n');
            if (newline is { } pos)
            {
                var line = buffer.Slice(0, pos);
                var chunk = Parse(line);
                _reader.AdvanceTo(buffer.GetPosition(1, pos));
                if (chunk is null) continue;
                _firstLineRead = true;
                return chunk;
            }
            if (buffer.Length > MaxLineBytes) throw new InvalidDataException("The backend sent an oversized line.");
            if (result.IsCompleted)
            {
                var rest = buffer.Length > 0 ? Parse(buffer) : null;
                _reader.AdvanceTo(buffer.End);
                return rest;
            }
            _reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    private static OllamaChunk? Parse(ReadOnlySequence<byte> line)
    {
        if (line.IsEmpty) return null;
        var span = line.IsSingleSegment ? line.FirstSpan : line.ToArray();
        if (span.Trim((byte)' ').Trim((byte)'\r').IsEmpty) return null;
        return OllamaChunk.Parse(span);
    }

    public ValueTask DisposeAsync()
    {
        _idle?.Dispose();
        return _reader.CompleteAsync();
    }
}
