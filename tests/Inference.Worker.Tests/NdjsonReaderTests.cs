using System.IO.Pipelines;
using System.Text;
using Inference.Worker.Ollama;

namespace TeeAspire.Tests;

/// <summary>
/// The reader's idle clock runs only while it waits for a line: one linked source and timer
/// serve every line, and time the consumer spends between reads never counts as a silent backend.
/// </summary>
public sealed class NdjsonReaderTests
{
    private static ReadOnlyMemory<byte> Line(string content) =>
        Encoding.UTF8.GetBytes($$"""{"model":"m","message":{"role":"assistant","content":"{{content}}"},"done":false}""" + "\n");

    [Fact]
    public async Task ASlowConsumerIsNotASilentBackendButASilentBackendTimesOut()
    {
        var pipe = new Pipe();
        await using var reader = new NdjsonReader(pipe.Reader.AsStream(), firstLineTimeout: TimeSpan.FromSeconds(10), idleTimeout: TimeSpan.FromMilliseconds(150));
        using var request = new CancellationTokenSource();

        await pipe.Writer.WriteAsync(Line("a"));
        Assert.Equal("a", (await reader.ReadAsync(request.Token))!.Value.Content);
        // The consumer takes three idle timeouts before it asks again; the line is there by then.
        await Task.Delay(450);
        await pipe.Writer.WriteAsync(Line("b"));
        Assert.Equal("b", (await reader.ReadAsync(request.Token))!.Value.Content);

        for (var i = 0; i < 50; i++) // many lines through the same source and timer
        {
            await pipe.Writer.WriteAsync(Line($"t{i}"));
            Assert.Equal($"t{i}", (await reader.ReadAsync(request.Token))!.Value.Content);
        }

        // Now the backend says nothing: the idle clock fires while the reader waits.
        await Assert.ThrowsAsync<TimeoutException>(async () => await reader.ReadAsync(request.Token));
    }

    [Fact]
    public async Task TheCallersCancellationIsNotReportedAsATimeout()
    {
        var pipe = new Pipe();
        await using var reader = new NdjsonReader(pipe.Reader.AsStream(), TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(10));
        using var request = new CancellationTokenSource();
        await pipe.Writer.WriteAsync(Line("a"));
        Assert.Equal("a", (await reader.ReadAsync(request.Token))!.Value.Content);
        request.CancelAfter(100);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await reader.ReadAsync(request.Token));
    }
}
