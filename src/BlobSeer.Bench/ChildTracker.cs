namespace BlobSeer.Bench;

/// <summary>The child processes alive now, so that Ctrl+C, a failure or the process exit stops them all.</summary>
internal sealed class ChildTracker
{
    private readonly List<ChildProcess> _children = [];

    public void Track(ChildProcess child)
    {
        lock (_children)
        {
            _children.RemoveAll(c => c.HasExited);
            _children.Add(child);
        }
    }

    public async Task StopAllAsync()
    {
        ChildProcess[] all;
        lock (_children)
        {
            all = [.. _children];
            _children.Clear();
        }

        foreach (var child in all)
        {
            await child.StopAsync(TimeSpan.FromSeconds(10));
        }
    }

    public void KillAll()
    {
        lock (_children)
        {
            foreach (var child in _children)
            {
                child.Kill();
            }
        }
    }
}
