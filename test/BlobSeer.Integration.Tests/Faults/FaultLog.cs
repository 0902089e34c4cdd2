using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace BlobSeer.Integration.Tests.Faults;

/// <summary>
/// What happened during a fault run, time-stamped from its start: kills, restarts, link cuts,
/// notable failures. Kept whole for the failure message and the run's <c>events.log</c>.
/// </summary>
internal sealed class FaultLog
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly List<string> _lines = [];

    public TimeSpan Elapsed => _clock.Elapsed;

    public void Write(string line)
    {
        var stamped = string.Create(CultureInfo.InvariantCulture, $"[{_clock.Elapsed.TotalSeconds,7:0.000}s] {line}");
        lock (_lines)
        {
            _lines.Add(stamped);
        }
    }

    public override string ToString()
    {
        lock (_lines)
        {
            var text = new StringBuilder();
            foreach (var line in _lines)
            {
                text.AppendLine(line);
            }

            return text.ToString();
        }
    }
}
