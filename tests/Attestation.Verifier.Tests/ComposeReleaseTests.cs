using TeeAspire.Attestation.Verifier;

namespace TeeAspire.Tests;

/// <summary>
/// The launch's rule for which images a compose file runs (issue 24, point 1): every YAML spelling
/// of a key or a scalar is either read as YAML (and Compose) reads it — and so measured — or
/// refused. The old reader (a line regex in app-events.sh) saw one image where these files run two.
/// </summary>
public sealed class ComposeReleaseTests
{
    private const string Gateway = "registry.example/teeaspire/gateway@sha256:1111111111111111111111111111111111111111111111111111111111111111";
    private const string Attacker = "docker.io/attacker/exfil@sha256:3333333333333333333333333333333333333333333333333333333333333333";
    private const string AttackerDigest = "sha256:3333333333333333333333333333333333333333333333333333333333333333";

    private static readonly Dictionary<string, string> NoVariables = [];

    private static ComposeReading Read(string yaml, Dictionary<string, string>? variables = null, string[]? secrets = null) =>
        ComposeRelease.Read(yaml, variables ?? NoVariables, secrets ?? []);

    private static void AssertMeasuresTheAttacker(string yaml)
    {
        var reading = Read(yaml);
        Assert.True(reading.Problem is null, reading.Problem);
        Assert.Contains(reading.Services, s => s.Image == Attacker);
        Assert.Contains(AttackerDigest, reading.Digests);
    }

    private static void AssertRefused(string yaml, string reason, Dictionary<string, string>? variables = null, string[]? secrets = null)
    {
        var reading = Read(yaml, variables, secrets);
        Assert.True(reading.Problem is not null, "accepted: " + string.Join(", ", reading.Services.Select(s => s.Image)));
        Assert.Contains(reason, reading.Problem);
        Assert.Empty(reading.Services);
    }

    [Fact]
    public void AnImageBehindADoubleQuotedKeyIsMeasured() =>
        AssertMeasuresTheAttacker($"services:\n  gateway:\n    image: {Gateway}\n  exfil:\n    \"image\": \"{Attacker}\"\n");

    [Fact]
    public void AnImageBehindASingleQuotedKeyIsMeasured() =>
        AssertMeasuresTheAttacker($"services:\n  gateway:\n    image: {Gateway}\n  exfil:\n    'image': '{Attacker}'\n");

    [Fact]
    public void AnImageBehindAKeyWithASpaceBeforeTheColonIsMeasured() =>
        AssertMeasuresTheAttacker($"services:\n  gateway:\n    image: {Gateway}\n  exfil:\n    image : {Attacker}\n");

    [Fact]
    public void AnImageBehindAKeyWrittenWithAnEscapeIsMeasured() =>
        AssertMeasuresTheAttacker($"services:\n  gateway:\n    image: {Gateway}\n  exfil:\n    \"im\\x61ge\": {Attacker}\n");

    [Fact]
    public void AnImageInAFlowMappingIsMeasured() =>
        AssertMeasuresTheAttacker($"services:\n  gateway: {{image: {Gateway}}}\n  exfil: {{ \"image\" : \"{Attacker}\", restart: always }}\n");

    [Fact]
    public void AnImageMergedFromAnAnchoredExtensionIsMeasured() =>
        AssertMeasuresTheAttacker($"x-base: &base\n  image: {Attacker}\n  restart: always\nservices:\n  gateway:\n    image: {Gateway}\n  exfil:\n    <<: *base\n");

    [Fact]
    public void AnImageMergedFromAListOfAnchorsIsMeasuredAndTheFirstMergedMappingWins() =>
        AssertMeasuresTheAttacker($"x-a: &a {{image: {Attacker}}}\nx-b: &b {{image: {Gateway}}}\nservices:\n  exfil:\n    <<: [*a, *b]\n");

    [Fact]
    public void AnExplicitImageWinsOverAMergedOne()
    {
        var reading = Read($"x-base: &base\n  image: {Attacker}\nservices:\n  gateway:\n    <<: *base\n    image: {Gateway}\n");

        Assert.Null(reading.Problem);
        Assert.Equal([Gateway], reading.Services.Select(s => s.Image));
    }

    [Fact]
    public void AnAliasedImageScalarIsMeasured() =>
        AssertMeasuresTheAttacker($"x-img: &img {Attacker}\nservices:\n  gateway:\n    image: {Gateway}\n  exfil:\n    image: *img\n");

    [Fact]
    public void AFoldedImageScalarIsMeasuredAsItsFoldedValue() =>
        AssertMeasuresTheAttacker($"services:\n  gateway:\n    image: {Gateway}\n  exfil:\n    image: >-\n      {Attacker}\n");

    [Fact]
    public void ALiteralBlockImageWithItsFinalNewlineIsRefused() =>
        AssertRefused($"services:\n  exfil:\n    image: |\n      {Attacker}\n", "not pinned by digest");

    [Fact]
    public void AFoldedImageSpanningTwoLinesIsRefused() =>
        AssertRefused($"services:\n  exfil:\n    image: >-\n      docker.io/attacker/exfil\n      @sha256:{new string('3', 64)}\n", "not pinned by digest");

    [Fact]
    public void AComposeFileWrittenAsJsonIsMeasured() =>
        AssertMeasuresTheAttacker($"{{\"services\": {{\"gateway\": {{\"image\": \"{Gateway}\"}}, \"exfil\": {{\"image\": \"{Attacker}\"}}}}}}");

    [Fact]
    public void AKeyTwiceInOneMappingIsRefused() =>
        AssertRefused($"services:\n  gateway:\n    image: {Gateway}\n    \"image\": {Attacker}\n", "appears twice");

    [Fact]
    public void AServiceTwiceIsRefused() =>
        AssertRefused($"services:\n  gateway:\n    image: {Gateway}\n  'gateway':\n    image: {Attacker}\n", "appears twice");

    [Theory]
    [InlineData("    build: .\n", "uses build")]
    [InlineData("    \"build\": {context: .}\n", "uses build")]
    [InlineData("    extends: {service: base}\n", "uses extends")]
    [InlineData("    extends:\n      file: other.yaml\n      service: base\n", "uses extends")]
    [InlineData("    env_file: extra.env\n", "env_file")]
    [InlineData("    profiles: [debug]\n", "profiles")]
    [InlineData("    configs: [c]\n", "not allowed")]
    [InlineData("    pull_policy: build\n", "pull_policy build")]
    [InlineData("    ports: !reset []\n", "tag")]
    public void ServiceKeysThatRunOrReadUnmeasuredThingsAreRefused(string extra, string reason) =>
        AssertRefused($"services:\n  gateway:\n    image: {Gateway}\n{extra}", reason);

    [Fact]
    public void IncludeIsRefused() =>
        AssertRefused($"include:\n  - other.yaml\nservices:\n  gateway:\n    image: {Gateway}\n", "include");

    [Fact]
    public void AQuotedIncludeIsRefused() =>
        AssertRefused($"\"include\": [other.yaml]\nservices:\n  gateway:\n    image: {Gateway}\n", "include");

    [Fact]
    public void ASecondYamlDocumentIsRefused() =>
        AssertRefused($"services:\n  gateway:\n    image: {Gateway}\n---\nservices:\n  exfil:\n    image: {Attacker}\n", "more than one YAML document");

    [Fact]
    public void AnUnpinnedImageIsRefused() =>
        AssertRefused($"services:\n  gateway:\n    image: {Gateway}\n  exfil:\n    \"image\": docker.io/attacker/exfil:latest\n", "not pinned by digest: docker.io/attacker/exfil:latest");

    [Fact]
    public void AnImageThatIsNotAStringIsRefused() =>
        AssertRefused("services:\n  gateway:\n    image: [a, b]\n", "image is not a string");

    [Fact]
    public void AServiceWithoutAnImageIsRefused() =>
        AssertRefused("services:\n  gateway:\n    restart: always\n", "has no image");

    [Fact]
    public void AnInterpolatedImageIsMeasuredAsComposeResolvesIt()
    {
        var reading = Read("services:\n  exfil:\n    image: docker.io/attacker/exfil@${DIGEST:-sha256:0000}\n",
            new Dictionary<string, string> { ["DIGEST"] = AttackerDigest });

        Assert.Null(reading.Problem);
        Assert.Equal([Attacker], reading.Services.Select(s => s.Image));
    }

    [Fact]
    public void ASecretVariableInAnImageIsRefused() =>
        AssertRefused("services:\n  exfil:\n    image: docker.io/attacker/exfil@${MASTER_KEY}\n", "secret variable MASTER_KEY", secrets: ["MASTER_KEY"]);

    [Fact]
    public void ASecretVariableInACommandIsRefused() =>
        AssertRefused($"services:\n  gateway:\n    image: {Gateway}\n    command: [\"--key\", \"$MASTER_KEY\"]\n", "secret variable MASTER_KEY", secrets: ["MASTER_KEY"]);

    [Fact]
    public void ASecretVariableInAServicesEnvironmentIsAccepted()
    {
        var reading = Read($"services:\n  gateway:\n    image: {Gateway}\n    environment:\n      Parameters__master-key: ${{MASTER_KEY}}\n", secrets: ["MASTER_KEY"]);

        Assert.Null(reading.Problem);
    }

    [Theory]
    [InlineData("A=\"quoted\"")]
    [InlineData("A=$OTHER")]
    [InlineData("A=x #comment")]
    [InlineData("A= x")]
    [InlineData("export A=x")]
    [InlineData("COMPOSE_PROJECT_NAME=other")]
    [InlineData("A=1\nA=2")]
    public void AReleaseEnvThatComposeWouldRewriteIsRefused(string text) =>
        Assert.False(ComposeRelease.TryReadEnvFile(text, out _, out _));

    [Fact]
    public void PinningReplacesTheLiteralScalarAndKeepsEverythingElse()
    {
        var text = "services:\n  gateway:\n    image: \"registry.example:5000/teeaspire/gateway:1.4\" # pinned by release.sh\n";
        var reading = ComposeRelease.Read(text, NoVariables, [], requirePinned: false);

        var pinned = ComposeRelease.Pin(text, reading.Services, new Dictionary<string, string> { ["registry.example:5000/teeaspire/gateway:1.4"] = AttackerDigest }, out var error);

        Assert.Null(error);
        Assert.Equal($"services:\n  gateway:\n    image: \"registry.example:5000/teeaspire/gateway@{AttackerDigest}\" # pinned by release.sh\n", pinned);
    }

    [Fact]
    public void AnAnchoredImageIsNotPinnedInPlace()
    {
        var text = "x-img: &img registry.example/gateway:1.4\nservices:\n  gateway:\n    image: *img\n";
        var reading = ComposeRelease.Read(text, NoVariables, [], requirePinned: false);

        Assert.Null(ComposeRelease.Pin(text, reading.Services, new Dictionary<string, string> { ["registry.example/gateway:1.4"] = AttackerDigest }, out var error));
        Assert.Contains("pin it where it is defined", error);
    }

    [Fact]
    public void TextMutationsOfAComposeFileAlwaysGetAReadingOrAReason()
    {
        var random = new Random(20261207);
        var text = $"x-base: &base\n  restart: always\nservices:\n  gateway:\n    <<: *base\n    image: \"{Gateway}\"\n    environment:\n      - A=${{A:-x}}\n  exfil: {{image: '{Attacker}'}}\n";
        string[] tokens = ["{", "}", "[", "]", ",", ":", "\"", "'", "&a", "*a", "<<", "!reset", "---", "|", ">-", "${", "$$", "\t", "\n", " ", "#", "? ", "- "];
        for (var i = 0; i < 3000; i++)
        {
            var mutated = FuzzTests.MutateText(random, text, tokens);
            var reading = ComposeRelease.Read(mutated, NoVariables, ["MASTER_KEY"]);
            Assert.True(reading.Problem is not null || reading.Services.Count > 0);
        }
    }
}
