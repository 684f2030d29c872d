using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace TeeAspire.Attestation.Verifier;

/// <summary>One service of a release's compose file, as Compose will run it.</summary>
/// <param name="Name">The service's name (its key under <c>services</c>).</param>
/// <param name="Image">The image reference after interpolation.</param>
/// <param name="Literal">The image scalar is written out once (no interpolation, anchor or alias, not a block scalar): it can be pinned in place.</param>
/// <param name="Start">Offset of the image scalar in the text (with <paramref name="End"/>, what <see cref="ComposeRelease.Pin"/> replaces).</param>
/// <param name="End">Offset just past the image scalar.</param>
public sealed record ComposeService(string Name, string Image, bool Literal, int Start, int End);

/// <summary>What reading a compose file gave: its services, or why it is refused.</summary>
public sealed record ComposeReading(IReadOnlyList<ComposeService> Services, string? Problem)
{
    /// <summary>The sorted, unique image digests (<c>sha256:&lt;hex&gt;</c>) of a reading without problem.</summary>
    public IReadOnlyList<string> Digests => [.. Services.Select(s => ComposeRelease.ImageDigest(s.Image)!).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)];
}

/// <summary>
/// The one rule for which software a release runs (deploy/README.md "Measured launch"): the compose
/// file is read by a real YAML parser — quoted and spaced keys, flow mappings, anchors, aliases and
/// merge keys, block scalars, JSON are what YAML says they are — and interpolated as Compose does
/// from the release's configuration. Anything this reading cannot resolve with certainty is refused
/// rather than guessed: several documents, tags (Compose's <c>!reset</c>/<c>!override</c> included),
/// duplicate keys, <c>build</c>, <c>extends</c>, <c>include</c>, <c>env_file</c>, profiles, keys it
/// does not know, an image not pinned by digest, interpolation forms beyond <c>$NAME</c>,
/// <c>${NAME}</c>, <c>${NAME:-x}</c>, <c>${NAME-x}</c>, <c>${NAME:?x}</c>, <c>${NAME?x}</c> and
/// <c>$$</c>, and a secret variable used anywhere but a service's <c>environment</c>. On the VM the
/// launch also asks Compose itself (<c>docker compose config</c>) and refuses when the two differ.
/// Hostile input is a refusal with a reason, never an exception.
/// </summary>
public static partial class ComposeRelease
{
    public const int MaxBytes = 1 << 20;
    public const int MaxDepth = 64;
    public const int MaxNodes = 100_000;

    private static readonly HashSet<string> TopLevel = ["name", "version", "services", "networks", "volumes"];

    // Compose specification's service keys that only configure the containers of the image named
    // (and are covered by the compose file's hash). Everything else — build, extends, env_file,
    // label_file, profiles, develop, provider, models, configs, secrets, credential_spec, unknown
    // keys — can start other software or read unmeasured files: refused.
    private static readonly HashSet<string> ServiceKeys =
    [
        "annotations", "attach", "blkio_config", "cap_add", "cap_drop", "cgroup", "cgroup_parent", "command", "container_name",
        "cpu_count", "cpu_percent", "cpu_period", "cpu_quota", "cpu_rt_period", "cpu_rt_runtime", "cpu_shares", "cpus", "cpuset",
        "depends_on", "deploy", "device_cgroup_rules", "devices", "dns", "dns_opt", "dns_search", "domainname", "entrypoint",
        "environment", "expose", "external_links", "extra_hosts", "gpus", "group_add", "healthcheck", "hostname", "image", "init",
        "ipc", "isolation", "labels", "links", "logging", "mac_address", "mem_limit", "mem_reservation", "mem_swappiness",
        "memswap_limit", "network_mode", "networks", "oom_kill_disable", "oom_score_adj", "pid", "pids_limit", "platform", "ports",
        "post_start", "pre_stop", "privileged", "pull_policy", "read_only", "restart", "runtime", "scale", "security_opt",
        "shm_size", "stdin_open", "stop_grace_period", "stop_signal", "storage_opt", "sysctls", "tmpfs", "tty", "ulimits", "user",
        "userns_mode", "uts", "volumes", "volumes_from", "working_dir",
    ];

    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9._:/-]*@sha256:[0-9a-f]{64}\z", RegexOptions.CultureInvariant)] // \z: "$" would accept a final newline
    private static partial Regex PinnedReference();

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_]*$", RegexOptions.CultureInvariant)]
    private static partial Regex VariableName();

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_.-]*$", RegexOptions.CultureInvariant)]
    private static partial Regex EnvFileName();

    /// <summary>The digest a reference is pinned by (<c>name[:tag]@sha256:&lt;hex&gt;</c>), or null.</summary>
    public static string? ImageDigest(string reference) =>
        PinnedReference().IsMatch(reference) ? reference[(reference.LastIndexOf('@') + 1)..] : null;

    /// <summary>Reads the release's compose file with the variables of its <c>release.env</c>.</summary>
    /// <param name="text">The compose file.</param>
    /// <param name="variables">The measured configuration (release.env) as Compose sees it.</param>
    /// <param name="secrets">The names of the secret variables (never measured): allowed only in a service's <c>environment</c>.</param>
    /// <param name="requirePinned">Refuse an image not pinned by digest (false only to find what to pin).</param>
    public static ComposeReading Read(string text, IReadOnlyDictionary<string, string> variables, IReadOnlyCollection<string> secrets, bool requirePinned = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        try
        {
            return new Reader(text, variables, secrets, requirePinned).Read();
        }
        catch (ComposeRefused e)
        {
            return new ComposeReading([], e.Message);
        }
        catch (YamlException e)
        {
            return new ComposeReading([], $"not YAML Compose can read: {Sanitize(e.Message)}");
        }
        catch (InvalidOperationException e)
        {
            // YamlDotNet's scanner throws this on some malformed plain scalars (found by the fuzz test).
            return new ComposeReading([], $"not YAML Compose can read: {Sanitize(e.Message)}");
        }
    }

    /// <summary>
    /// Parses a release.env strictly: <c>NAME=value</c> lines, comments and blank lines only — no
    /// quotes, <c>$</c>, backslashes, <c>export</c>, inline comments or surrounding blanks (forms
    /// Compose would rewrite), no name twice (the measured hash sorts lines, Compose takes the last),
    /// no <c>COMPOSE_*</c>/<c>DOCKER_*</c> (they change Compose itself).
    /// </summary>
    public static bool TryReadEnvFile(string text, out Dictionary<string, string> variables, out string? error)
    {
        ArgumentNullException.ThrowIfNull(text);
        variables = new Dictionary<string, string>(StringComparer.Ordinal);
        error = null;
        var number = 0;
        foreach (var raw in text.Split('\n'))
        {
            number++;
            var line = raw.EndsWith('\r') ? raw[..^1] : raw;
            if (line.Trim().Length == 0 || line.TrimStart().StartsWith('#')) continue;
            var eq = line.IndexOf('=', StringComparison.Ordinal);
            var name = eq < 0 ? line : line[..eq];
            var value = eq < 0 ? "" : line[(eq + 1)..];
            if (eq < 0 || !EnvFileName().IsMatch(name)) { error = $"line {number}: not NAME=value"; return false; }
            if (value.Length > 0 && (value != value.Trim() || value.IndexOfAny(['"', '\'', '`', '$', '\\', '\r']) >= 0 || value.Contains(" #", StringComparison.Ordinal) || value.Contains("\t#", StringComparison.Ordinal)))
            { error = $"line {number} ({name}): quotes, $, backslashes, inline comments and surrounding blanks are not allowed (Compose would rewrite the value)"; return false; }
            if (value.Any(c => c is < ' ' or > '~' and not '\t')) { error = $"line {number} ({name}): not printable ASCII"; return false; }
            if (name.StartsWith("COMPOSE_", StringComparison.Ordinal) || name.StartsWith("DOCKER_", StringComparison.Ordinal))
            { error = $"line {number}: {name} changes Compose itself, not the application"; return false; }
            if (!variables.TryAdd(name, value)) { error = $"line {number}: {name} is set twice"; return false; }
        }
        return true;
    }

    /// <summary>
    /// Pins literal image scalars in place: each <paramref name="digests"/> entry maps a reference
    /// exactly as written to its digest. Returns the new text, or null with the reason. The result is
    /// read again by the caller; an image that is interpolated, anchored or aliased must be pinned
    /// where it is defined.
    /// </summary>
    public static string? Pin(string text, IReadOnlyList<ComposeService> services, IReadOnlyDictionary<string, string> digests, out string? error)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(digests);
        error = null;
        var edits = new List<(int Start, int End, string Replacement)>();
        foreach (var s in services)
        {
            if (ImageDigest(s.Image) is not null) continue;
            if (!digests.TryGetValue(s.Image, out var digest)) { error = $"no digest for {s.Image} (service {s.Name})"; return null; }
            if (!s.Literal) { error = $"service {s.Name}: its image {s.Image} is interpolated, anchored or a block scalar: pin it where it is defined"; return null; }
            var name = s.Image[(s.Image.LastIndexOf('/') + 1)..].Contains(':', StringComparison.Ordinal) ? s.Image[..s.Image.LastIndexOf(':')] : s.Image;
            edits.Add((s.Start, s.End, $"\"{name}@{digest}\""));
        }
        var builder = new StringBuilder(text);
        foreach (var (start, end, replacement) in edits.OrderByDescending(e => e.Start))
            builder.Remove(start, end - start).Insert(start, replacement);
        return builder.ToString();
    }

    private static string Sanitize(string s) => new([.. s.Where(c => c is >= ' ' and <= '~').Take(300)]);

    private sealed class ComposeRefused(string message) : Exception(message);

    private abstract record Node(Mark Start, Mark End);

    private sealed record Scalar(string Value, ScalarStyle Style, bool Anchored, Mark Start, Mark End) : Node(Start, End)
    {
        /// <summary>A plain scalar the YAML 1.2 core schema (Compose's YAML library) resolves to null, a bool or a number.</summary>
        public bool IsNonString => Style == ScalarStyle.Plain && (Value is "" or "~" or "null" or "Null" or "NULL" or "true" or "True" or "TRUE" or "false" or "False" or "FALSE"
            || double.TryParse(Value, NumberStyles.Float, CultureInfo.InvariantCulture, out _) || Value.StartsWith("0x", StringComparison.Ordinal) || Value.StartsWith("0o", StringComparison.Ordinal)
            || Value is ".inf" or "-.inf" or "+.inf" or ".nan" or ".NaN" or ".NAN");
    }

    private sealed record Sequence(List<Node> Items, Mark Start, Mark End) : Node(Start, End);

    private sealed record Mapping(List<(Scalar Key, Node Value)> Pairs, Mark Start, Mark End) : Node(Start, End);

    private sealed class Reader(string text, IReadOnlyDictionary<string, string> variables, IReadOnlyCollection<string> secrets, bool requirePinned)
    {
        private readonly Dictionary<string, Node> _anchors = new(StringComparer.Ordinal);
        private readonly HashSet<Node> _aliased = new(ReferenceEqualityComparer.Instance);
        private int _nodes;

        public ComposeReading Read()
        {
            if (text.Length > MaxBytes) throw new ComposeRefused($"more than {MaxBytes} characters");
            if (text.Contains('\0', StringComparison.Ordinal)) throw new ComposeRefused("a NUL character");
            var parser = new Parser(new StringReader(text));
            parser.Consume<StreamStart>();
            if (parser.Accept<StreamEnd>(out _)) throw new ComposeRefused("an empty file");
            parser.Consume<DocumentStart>();
            var root = Parse(parser, 0);
            parser.Consume<DocumentEnd>();
            if (!parser.Accept<StreamEnd>(out _)) throw new ComposeRefused("more than one YAML document: Compose reads the first, a reader might read another");
            var top = Map(Resolve(root, 0), "the file");
            foreach (var key in top.Keys.Where(k => !TopLevel.Contains(k) && !k.StartsWith("x-", StringComparison.Ordinal)))
                throw new ComposeRefused(key == "include" ? "include: a release is one file" : $"top-level key '{Sanitize(key)}' is not allowed (it could add software or unmeasured files)");
            CheckSecretsOnlyInEnvironment(top);
            if (!top.TryGetValue("services", out var servicesNode)) throw new ComposeRefused("no services");
            var services = new List<ComposeService>();
            foreach (var (name, node) in Map(servicesNode, "services"))
                services.Add(Service(name, Map(node, $"service {Sanitize(name)}")));
            if (services.Count == 0) throw new ComposeRefused("no services");
            return new ComposeReading(services, null);
        }

        private Node Parse(IParser parser, int depth)
        {
            if (depth > MaxDepth) throw new ComposeRefused($"nested deeper than {MaxDepth}");
            if (++_nodes > MaxNodes) throw new ComposeRefused($"more than {MaxNodes} nodes");
            if (parser.TryConsume<AnchorAlias>(out var alias))
            {
                if (!_anchors.TryGetValue(alias.Value.Value, out var target)) throw new ComposeRefused($"alias *{Sanitize(alias.Value.Value)} has no anchor");
                _aliased.Add(target);
                return target;
            }
            var e = parser.Current ?? throw new ComposeRefused("truncated");
            if (e is NodeEvent { Tag.IsEmpty: false } tagged) throw new ComposeRefused($"tag {Sanitize(tagged.Tag.Value)}: tags change how Compose reads a value (!reset, !override)");
            var anchor = e is NodeEvent n && !n.Anchor.IsEmpty ? n.Anchor.Value : null;
            Node node;
            if (parser.TryConsume<YamlDotNet.Core.Events.Scalar>(out var scalar))
            {
                node = new Scalar(scalar.Value, scalar.Style, anchor is not null, scalar.Start, scalar.End);
            }
            else if (parser.TryConsume<SequenceStart>(out var seq))
            {
                var items = new List<Node>();
                while (!parser.TryConsume<SequenceEnd>(out _)) items.Add(Parse(parser, depth + 1));
                node = new Sequence(items, seq.Start, seq.End);
            }
            else if (parser.TryConsume<MappingStart>(out var map))
            {
                var pairs = new List<(Scalar, Node)>();
                var seen = new HashSet<string>(StringComparer.Ordinal);
                while (!parser.TryConsume<MappingEnd>(out _))
                {
                    if (Parse(parser, depth + 1) is not Scalar key) throw new ComposeRefused("a mapping key that is not a scalar");
                    if (!seen.Add(key.Value)) throw new ComposeRefused($"key '{Sanitize(key.Value)}' appears twice in one mapping (line {key.Start.Line})");
                    pairs.Add((key, Parse(parser, depth + 1)));
                }
                node = new Mapping(pairs, map.Start, map.End);
            }
            else
            {
                throw new ComposeRefused($"unexpected YAML event {e.GetType().Name}");
            }
            if (anchor is not null) _anchors[anchor] = node;
            return node;
        }

        /// <summary>A node with merge keys applied (YAML's merge-key type, as Compose's YAML library does): explicit keys win, then the merged mappings in order.</summary>
        private object Resolve(Node node, int depth)
        {
            if (depth > MaxDepth) throw new ComposeRefused($"nested deeper than {MaxDepth} (through aliases)");
            if (++_nodes > MaxNodes) throw new ComposeRefused($"more than {MaxNodes} nodes (through aliases)");
            switch (node)
            {
                case Scalar s:
                    return s;
                case Sequence q:
                    return q.Items.Select(i => Resolve(i, depth + 1)).ToList();
                case Mapping m:
                    var result = new Dictionary<string, object>(StringComparer.Ordinal);
                    var keys = new Dictionary<string, Scalar>(StringComparer.Ordinal);
                    var merged = new List<Mapping>();
                    foreach (var (key, value) in m.Pairs)
                    {
                        if (key.Value == "<<" && key.Style == ScalarStyle.Plain)
                        {
                            merged.AddRange(value switch
                            {
                                Mapping one => [one],
                                Sequence many when many.Items.All(i => i is Mapping) => many.Items.Cast<Mapping>(),
                                _ => throw new ComposeRefused("a merge key (<<) whose value is not a mapping or a list of mappings"),
                            });
                            continue;
                        }
                        result[key.Value] = Resolve(value, depth + 1);
                        keys[key.Value] = key;
                    }
                    foreach (var source in merged)
                        foreach (var (key, value) in ((Dictionary<string, object>)Resolve(source, depth + 1)))
                            result.TryAdd(key, value);
                    return result;
                default:
                    throw new ComposeRefused("unknown node");
            }
        }

        private static Dictionary<string, object> Map(object node, string what) =>
            node as Dictionary<string, object> ?? throw new ComposeRefused($"{what} is not a mapping");

        private ComposeService Service(string name, Dictionary<string, object> service)
        {
            foreach (var key in service.Keys.Where(k => !ServiceKeys.Contains(k) && !k.StartsWith("x-", StringComparison.Ordinal)))
                throw new ComposeRefused(key switch
                {
                    "build" => $"service {Sanitize(name)} uses build: a release names every image by digest",
                    "extends" => $"service {Sanitize(name)} uses extends: a release is one file",
                    "env_file" => $"service {Sanitize(name)} uses env_file: its values would not be measured",
                    "profiles" => $"service {Sanitize(name)} uses profiles: whether it runs would depend on the environment",
                    _ => $"service {Sanitize(name)}: key '{Sanitize(key)}' is not allowed (it could start other software or read unmeasured files)",
                });
            if (service.TryGetValue("pull_policy", out var pull) && pull is Scalar { Value: "build" })
                throw new ComposeRefused($"service {Sanitize(name)}: pull_policy build");
            if (!service.TryGetValue("image", out var imageNode)) throw new ComposeRefused($"service {Sanitize(name)} has no image");
            if (imageNode is not Scalar image || image.IsNonString) throw new ComposeRefused($"service {Sanitize(name)}: image is not a string");
            var reference = Interpolate(image.Value, $"service {Sanitize(name)}'s image");
            if (requirePinned && ImageDigest(reference) is null)
                throw new ComposeRefused($"image not pinned by digest: {Sanitize(reference)} (service {Sanitize(name)})");
            if (!requirePinned && (reference.Length == 0 || reference.Any(c => c is <= ' ' or > '~')))
                throw new ComposeRefused($"service {Sanitize(name)}: image '{Sanitize(reference)}' is not a reference");
            var literal = !image.Anchored && !_aliased.Contains(image) && image.Style is ScalarStyle.Plain or ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted
                && reference == image.Value && !image.Value.Contains('$', StringComparison.Ordinal);
            return new ComposeService(name, reference, literal, (int)image.Start.Index, (int)image.End.Index);
        }

        /// <summary>Compose's interpolation, for the forms whose result is certain; anything else is refused.</summary>
        private string Interpolate(string value, string where)
        {
            var result = new StringBuilder();
            for (var i = 0; i < value.Length; i++)
            {
                if (value[i] != '$') { result.Append(value[i]); continue; }
                if (i + 1 < value.Length && value[i + 1] == '$') { result.Append('$'); i++; continue; }
                var (name, modifier, argument, length) = Reference(value, i, where);
                i += length - 1;
                variables.TryGetValue(name, out var set);
                if (secrets.Contains(name)) throw new ComposeRefused($"{where} uses the secret variable {name}");
                result.Append(modifier switch
                {
                    null => set ?? "",
                    ":-" => string.IsNullOrEmpty(set) ? argument : set,
                    "-" => set ?? argument,
                    ":?" => string.IsNullOrEmpty(set) ? throw new ComposeRefused($"{where}: {name} is required and not set") : set,
                    "?" => set ?? throw new ComposeRefused($"{where}: {name} is required and not set"),
                    _ => throw new ComposeRefused($"{where}: interpolation ${{{name}{modifier}…}} is not supported here"),
                });
            }
            return result.ToString();
        }

        /// <summary>The variable reference at <paramref name="at"/>: its name, modifier, argument and length in characters.</summary>
        private static (string Name, string? Modifier, string Argument, int Length) Reference(string value, int at, string where)
        {
            if (at + 1 < value.Length && value[at + 1] == '{')
            {
                var close = value.IndexOf('}', at + 2);
                if (close < 0) throw new ComposeRefused($"{where}: an unclosed ${{");
                var inner = value[(at + 2)..close];
                var end = 0;
                while (end < inner.Length && (char.IsAsciiLetterOrDigit(inner[end]) || inner[end] == '_')) end++;
                var name = inner[..end];
                if (!VariableName().IsMatch(name)) throw new ComposeRefused($"{where}: ${{{Sanitize(inner)}}} is not a variable");
                var rest = inner[end..];
                if (rest.Length == 0) return (name, null, "", close - at + 1);
                var modifier = rest.StartsWith(':') ? rest[..Math.Min(2, rest.Length)] : rest[..1];
                var argument = rest[modifier.Length..];
                if (argument.Contains('$', StringComparison.Ordinal) || argument.Contains('{', StringComparison.Ordinal))
                    throw new ComposeRefused($"{where}: nested interpolation is not supported here");
                return (name, modifier is ":-" or "-" or ":?" or "?" ? modifier : "unsupported:" + modifier, argument, close - at + 1);
            }
            var length = 1;
            while (at + length < value.Length && (char.IsAsciiLetterOrDigit(value[at + length]) || value[at + length] == '_')) length++;
            var bare = value[(at + 1)..(at + length)];
            if (!VariableName().IsMatch(bare)) throw new ComposeRefused($"{where}: a $ that is neither $$ nor a variable");
            return (bare, null, "", length);
        }

        /// <summary>Secret variables reach the containers' environment and nothing else (not images, commands, volumes).</summary>
        private void CheckSecretsOnlyInEnvironment(Dictionary<string, object> top)
        {
            if (secrets.Count == 0) return;
            var outside = top.Where(p => p.Key != "services").Select(p => (p.Key, p.Value)).ToList();
            if (top.TryGetValue("services", out var services) && services is Dictionary<string, object> byName)
                foreach (var (name, service) in byName)
                    outside.AddRange(service is Dictionary<string, object> keys
                        ? keys.Where(k => k.Key != "environment").Select(k => ($"services.{name}.{k.Key}", k.Value))
                        : [($"services.{name}", service)]);
            foreach (var (path, node) in outside)
                foreach (var (at, scalar) in Scalars(node, path))
                    foreach (var secret in secrets)
                        if (scalar.Value.Contains("${" + secret, StringComparison.Ordinal) || Regex.IsMatch(scalar.Value, @"\$" + Regex.Escape(secret) + @"(?![A-Za-z0-9_])", RegexOptions.CultureInvariant))
                            throw new ComposeRefused($"the secret variable {secret} is used at {Sanitize(at)}: secrets may only set a service's environment");
        }

        private IEnumerable<(string Path, Scalar Scalar)> Scalars(object node, string path)
        {
            if (++_nodes > MaxNodes) throw new ComposeRefused($"more than {MaxNodes} nodes (through aliases)");
            switch (node)
            {
                case Scalar s:
                    yield return (path, s);
                    break;
                case List<object> items:
                    for (var i = 0; i < items.Count; i++)
                        foreach (var x in Scalars(items[i], $"{path}.{i}")) yield return x;
                    break;
                case Dictionary<string, object> map:
                    foreach (var (key, value) in map)
                        foreach (var x in Scalars(value, path.Length == 0 ? key : $"{path}.{key}")) yield return x;
                    break;
            }
        }
    }
}
