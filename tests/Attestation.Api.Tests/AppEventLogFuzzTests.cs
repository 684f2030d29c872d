using System.Text.Json;
using TeeAspire.Attestation.Verifier;

namespace TeeAspire.Tests;

/// <summary>Hostile event logs are failed checks with reasons, never exceptions.</summary>
public sealed class AppEventLogFuzzTests
{
    private static readonly AppPolicy Policy = new() { Images = [MeasuredRelease.Gateway] };

    private static IReadOnlyList<CheckResult> Check(string log) =>
        AppMeasurement.Verify(JsonDocument.Parse($"{{\"app_event_log\":{log}}}").RootElement, new Dictionary<int, byte[]> { [13] = new byte[32] }, Policy);

    [Theory]
    [InlineData("[1]")]
    [InlineData("[{}]")]
    [InlineData("[{\"index\":0,\"type\":\"image\",\"data\":\"sha256:zz\",\"digest\":\"00\"}]")]
    [InlineData("[{\"index\":1,\"type\":\"compose\",\"data\":\"\",\"digest\":\"\"}]")]
    [InlineData("[{\"index\":0,\"type\":\"compose\",\"data\":null,\"digest\":5}]")]
    [InlineData("[{\"index\":0,\"type\":\"unexpected\",\"data\":\"a\\nb\",\"digest\":\"\"}]")]
    [InlineData("[{\"index\":1e400,\"type\":\"x\"}]")]
    [InlineData("\"not a list\"")]
    [InlineData("[\"a line that was not JSON\"]")]
    public void MalformedLogsFailAppReplay(string log)
    {
        var checks = Check(log);

        Assert.Contains(checks, c => c.Name == "app.replay" && !c.Passed);
        Assert.All(checks, c => Assert.False(c.Passed));
    }

    [Fact]
    public void RandomMutationsOfAValidLogNeverThrow()
    {
        var data = "sha256:" + new string('1', 64);
        var valid = $"[{{\"index\":0,\"type\":\"image\",\"data\":\"{data}\",\"digest\":\"{Convert.ToHexStringLower(AppMeasurement.EventDigest("image", data))}\"}}]";
        var random = new Random(15);
        for (var i = 0; i < 2000; i++)
        {
            var bytes = System.Text.Encoding.UTF8.GetBytes(valid);
            bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
            string text;
            try
            {
                text = System.Text.Encoding.UTF8.GetString(bytes);
                using var _ = JsonDocument.Parse(text);
            }
            catch (JsonException)
            {
                continue; // not JSON: the report itself would be refused as malformed
            }
            var checks = Check(text);
            Assert.Equal(AppMeasurement.CheckNames.Count, checks.Count);
        }
    }
}
