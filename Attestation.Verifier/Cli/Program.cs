using System.CommandLine;
using TeeAspire.Attestation.Verifier.Cli;

var allowInsecure = new Option<bool>("--allow-insecure-platform") { Description = "Accept evidence with no hardware root (a software TPM: development, CI). Printed loudly; never read from a policy file" };
var policy = new Option<FileInfo?>("--policy") { Description = "Policy file: which TD, TCB statuses, PCR values, pinned signing key (PROTOCOL.md)" };
var intelRoot = new Option<FileInfo?>("--intel-root") { Description = "Intel SGX Root CA (PEM) for TD quotes" };
var amdArk = new Option<FileInfo?>("--amd-ark") { Description = "AMD ARK (PEM) for SEV-SNP reports" };
var imdsRoot = new Option<FileInfo?>("--imds-root") { Description = "Root (PEM) for the IMDS document's signer; default: the system store" };
var collateral = new Option<FileInfo?>("--collateral") { Description = "DCAP collateral bundle (JSON: TCB info, QE identity, CRLs and their issuer chains)" };
var tcbInfo = new Option<FileInfo?>("--tcb-info") { Description = "Intel PCS TCB info (JSON) alone, for the TCB status" };
var pcsUrl = new Option<string?>("--pcs-url") { Description = "Fetch DCAP collateral from Intel PCS (https://api.trustedservices.intel.com) or a PCCS when no --collateral is given; cached" };
var pcsCache = new Option<DirectoryInfo?>("--pcs-cache") { Description = "Cache directory for PCS responses (default ~/.cache/tee-verify/pcs)" };
var pcsRootCrl = new Option<string?>("--pcs-root-crl") { Description = "Where the Intel SGX Root CA CRL is fetched with --pcs-url (default Intel's: https://certificates.trustedservices.intel.com/IntelSGXRootCA.der)" };
var asOf = new Option<DateTimeOffset?>("--as-of") { Description = "Check certificates, CRLs and collateral as of this time (archived evidence, tests)" };
var save = new Option<FileInfo?>("--save") { Description = "Write the fetched report to this file" };
var url = new Argument<string>("url") { Description = "The service, e.g. https://tee.example.com" };
Option[] verification = [allowInsecure, policy, intelRoot, amdArk, imdsRoot, collateral, pcsUrl, pcsCache, pcsRootCrl, tcbInfo, asOf];

var report = new Command("report", "Fetch a fresh report (random nonce) and verify it") { url, save };
Add(report, verification);
report.SetAction((parse, ct) => Cli.Run(() => Commands.ReportAsync(parse.GetValue(url)!, Options(parse), parse.GetValue(save), ct)));

var file = new Argument<FileInfo>("file") { Description = "A saved report (JSON), or an evidence file the verification page saved (PROTOCOL.md \"Evidence file\")" };
var nonce = new Option<string?>("--nonce") { Description = "The nonce (hex) the report was asked with (required for a report; an evidence file carries its own)" };
var reportFile = new Command("report-file", "Verify a saved report, or re-verify an evidence file offline (its nonce, policy, collateral and time; your trust anchors) and compare with the verdict it records") { file, nonce };
Add(reportFile, verification);
reportFile.SetAction((parse, _) => Cli.Run(() => Commands.ReportFileAsync(parse.GetValue(file)!, parse.GetValue(nonce), Options(parse))));

var key = new Option<string>("--key") { Description = "API key (sk-tee-…)", Required = true };
var message = new Option<string>("--message") { Description = "The prompt", Required = true };
var model = new Option<string>("--model") { Description = "Model id", DefaultValueFactory = _ => "deepseek-r1" };
var chat = new Command("chat", "Verify a fresh report, and only then send the prompt (with an answer nonce) and verify the answer's signature against the attested key set") { url, key, message, model };
Add(chat, verification);
chat.SetAction((parse, ct) => Cli.Run(() => Commands.ChatAsync(parse.GetValue(url)!, parse.GetValue(key)!, parse.GetValue(message)!, parse.GetValue(model)!, Options(parse), ct)));

var listen = new Option<string>("--listen") { Description = "Where the proxy listens (host:port; an IP address or localhost)", DefaultValueFactory = _ => ProxyCommand.DefaultListen };
var proxy = new Command("proxy", "A local OpenAI-compatible endpoint: verifies a fresh report first (and again when the service's keys change), seals every request body to the attested key, adds an answer nonce, and passes on only answers whose signature verifies against the attested key set") { url, listen };
Add(proxy, verification);
proxy.SetAction((parse, ct) => Cli.Run(() => ProxyCommand.RunAsync(parse.GetValue(url)!, parse.GetValue(listen)!, Options(parse), ct)));

var output = new Option<FileInfo>("--output", "-o") { Description = "Where to write the policy", Required = true };
var capture = new Command("capture", "Write a policy from a fresh report's verified evidence: TD measurements and quoted PCRs") { url, output };
Add(capture, verification);
capture.SetAction((parse, ct) => Cli.Run(() => Commands.CapturePolicyAsync(parse.GetValue(url)!, parse.GetValue(output)!, Options(parse), ct)));
var policyCommand = new Command("policy", "Policies: which TD and software to accept") { capture };
policyCommand.Add(FromReleaseCommand.Create());

var dir = new Argument<DirectoryInfo>("dir") { Description = "The corpus directory (tests/vectors)" };
var vectors = new Command("vectors", "Run every vector of a corpus (mutation vectors expanded) and compare with its expected verdict") { dir };
vectors.SetAction((parse, _) => Cli.Run(() => Task.FromResult(Commands.Vectors(parse.GetValue(dir)!))));

var root = new RootCommand("tee-verify: check that a TeeAspire service runs in the expected TEE, and that its answers came from it. Exit codes: 0 verified, 1 refused (a check failed), 2 bad input or usage")
{
    report, reportFile, chat, proxy, policyCommand, vectors, ReleaseComposeCommand.Create(),
};
return await root.Parse(args).InvokeAsync();

VerifierOptions Options(ParseResult parse) => new(parse.GetValue(allowInsecure), parse.GetValue(policy), parse.GetValue(intelRoot), parse.GetValue(amdArk),
    parse.GetValue(imdsRoot), parse.GetValue(collateral), parse.GetValue(tcbInfo), parse.GetValue(asOf))
{
    PcsUrl = parse.GetValue(pcsUrl),
    PcsCache = parse.GetValue(pcsCache),
    PcsRootCrl = parse.GetValue(pcsRootCrl),
};

static void Add(Command command, Option[] options)
{
    foreach (var o in options) command.Options.Add(o);
}

/// <summary>Internal: ASP.NET Core (referenced for the proxy) would otherwise make the top-level Program public, and it would clash with the services' Program in test projects that reference both.</summary>
internal partial class Program;
