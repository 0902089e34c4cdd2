using System.Globalization;
using System.Text;

namespace BlobSeer.Integration.Tests.Faults;

/// <summary>The fault tests run one at a time (each starts a cluster of its own) and share one report.</summary>
[CollectionDefinition("Faults")]
public sealed class FaultsCollection : ICollectionFixture<FaultSuite>;

/// <summary>Figures one fault test adds to the suite's summary line.</summary>
internal sealed record FaultFigures
{
    public int OpsAcknowledged { get; init; }

    public IReadOnlyDictionary<string, int> Faults { get; init; } = new Dictionary<string, int>();

    public int BadInputs { get; init; }

    public int VersionsVerified { get; init; }

    public long BytesLost { get; init; }
}

/// <summary>
/// The suite's seed and its summary line. The seed comes from BLOBSEER_FAULT_SEED when set (to
/// replay a run) or is drawn at random; each test derives its own from it. The summary line adds up
/// every test that ran so far and is rewritten to <see cref="SummaryFile"/> after each.
/// </summary>
public sealed class FaultSuite
{
    private static readonly string[] FaultKinds = ["kill_data", "kill_metadata", "kill_pm", "kill_vm", "corrupt", "link_cut"];
    private readonly Lock _gate = new();
    private readonly Dictionary<string, int> _faults = FaultKinds.ToDictionary(k => k, _ => 0);
    private int _ops;
    private int _badInputs;
    private int _versions;
    private long _bytesLost;

    public FaultSuite()
    {
        Seed = int.TryParse(Environment.GetEnvironmentVariable("BLOBSEER_FAULT_SEED"), CultureInfo.InvariantCulture, out var seed)
            ? seed
            : Random.Shared.Next(1, 1_000_000);
        ReportDirectory = Path.Combine(Path.GetTempPath(), $"blobseer-faults-{DateTime.UtcNow:yyyyMMdd-HHmmss}-seed{Seed}");
        Directory.CreateDirectory(ReportDirectory);
    }

    /// <summary>The suite's seed: BLOBSEER_FAULT_SEED=<c>Seed</c> replays the same choices.</summary>
    public int Seed { get; }

    /// <summary>Kept after the run: the summary, and each test's events and (on failure) cluster state.</summary>
    public string ReportDirectory { get; }

    public string SummaryFile => Path.Combine(ReportDirectory, "summary.txt");

    /// <summary>The seed of one test: the suite's, mixed with a constant of the test's own.</summary>
    public int SeedFor(int test) => unchecked((Seed * 31) + test);

    internal string Add(FaultFigures figures)
    {
        lock (_gate)
        {
            _ops += figures.OpsAcknowledged;
            _badInputs += figures.BadInputs;
            _versions += figures.VersionsVerified;
            _bytesLost += figures.BytesLost;
            foreach (var (kind, count) in figures.Faults)
            {
                _faults[kind] = _faults.GetValueOrDefault(kind) + count;
            }

            var line = SummaryLine();
            File.WriteAllText(SummaryFile, line + "\n");
            return line;
        }
    }

    internal string SummaryLine()
    {
        lock (_gate)
        {
            var faults = string.Join(", ", _faults.Select(f => $"{f.Key}:{f.Value}"));
            return string.Create(CultureInfo.InvariantCulture,
                $"faults: seed={Seed} ops_acknowledged={_ops} faults={{{faults}}} bad_inputs={_badInputs} versions_verified={_versions} bytes_lost={_bytesLost}");
        }
    }

    /// <summary>One test's figures in the same shape as the summary line.</summary>
    internal static string Line(string test, int seed, FaultFigures f)
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"{test}: seed={seed} ops_acknowledged={f.OpsAcknowledged} faults={{");
        text.AppendJoin(", ", f.Faults.Select(kv => $"{kv.Key}:{kv.Value}"));
        text.Append(CultureInfo.InvariantCulture, $"}} bad_inputs={f.BadInputs} versions_verified={f.VersionsVerified} bytes_lost={f.BytesLost}");
        return text.ToString();
    }
}
