namespace BlobSeer.Integration.Tests.Faults;

/// <summary>
/// One fault test's directory, event log and output. The cluster's state is deleted when the test
/// passes and kept (its path printed) when it fails; <c>events.log</c> is kept either way.
/// </summary>
internal sealed class FaultRun : IDisposable
{
    private readonly FaultSuite _suite;
    private readonly string _name;

    public FaultRun(FaultSuite suite, string name, int test)
    {
        _suite = suite;
        _name = name;
        Seed = suite.SeedFor(test);
        Directory = Path.Combine(suite.ReportDirectory, name);
        System.IO.Directory.CreateDirectory(Directory);
        Say($"{name}: seed {Seed} (suite seed {suite.Seed}; replay with BLOBSEER_FAULT_SEED={suite.Seed}); files in {Directory}");
    }

    public int Seed { get; }

    public string Directory { get; }

    public string ClusterDirectory => Path.Combine(Directory, "cluster");

    public FaultLog Log { get; } = new();

    /// <summary>Set at the end of a test that passed: its cluster state can go.</summary>
    public bool Passed { get; set; }

    /// <summary>To the test's output and the event log.</summary>
    public void Say(string line)
    {
        Log.Write(line);
        TestContext.Current.TestOutputHelper?.WriteLine(line);
    }

    /// <summary>Adds the figures to the suite and prints this test's line and the suite's.</summary>
    public void Report(FaultFigures figures)
    {
        Say(FaultSuite.Line(_name, Seed, figures));
        var summary = _suite.Add(figures);
        Say(summary);
        Say($"summary written to {_suite.SummaryFile}");
    }

    public void Dispose()
    {
        File.WriteAllText(Path.Combine(Directory, "events.log"), Log.ToString());
        if (Passed)
        {
            try
            {
                if (System.IO.Directory.Exists(ClusterDirectory))
                {
                    System.IO.Directory.Delete(ClusterDirectory, recursive: true);
                }
            }
            catch (IOException)
            {
                // A process that outlived the test may still hold a file.
            }
        }
        else
        {
            TestContext.Current.TestOutputHelper?.WriteLine($"kept for inspection: {Directory}");
        }
    }
}
