namespace BlobSeer.Core.Versions;

/// <summary>
/// The lifecycle rules of one blob, beside its <see cref="BlobState"/>: whether the blob was
/// deleted, which of its published versions were deleted, the labels on its versions and its
/// retention policy (pure state; the version manager adds locking and the log).
/// <list type="bullet">
/// <item>Only published versions can be deleted, and never the latest published one: a blob always
/// has a readable version until it is deleted itself.</item>
/// <item>A label names at most one version of a blob: labelling another version moves it there
/// (a label such as <c>snapshot:NAME</c> then always means one version). A version may carry
/// several labels. Deleting a version drops its labels.</item>
/// </list>
/// The <c>Check…</c> methods validate a request and say what it would change; the others apply
/// a change that was checked (or is replayed from the log) and never fail.
/// </summary>
public sealed class BlobLifecycle
{
    /// <summary>Longest label, in characters.</summary>
    public const int MaxLabelLength = 128;

    private readonly HashSet<ulong> _deleted = [];
    private readonly Dictionary<string, ulong> _labels = new(StringComparer.Ordinal);
    private readonly Dictionary<ulong, SortedSet<string>> _labelsOf = [];

    /// <summary>Every version below this one is deleted (the rest of the deleted versions are listed one by one).</summary>
    public ulong DeletedBefore { get; private set; }

    /// <summary>True once the blob itself was deleted.</summary>
    public bool BlobDeleted { get; private set; }

    /// <summary>The blob's retention policy; null keeps every version.</summary>
    public RetentionPolicy? Policy { get; set; }

    /// <summary>Every label of the blob and the version it names.</summary>
    public IReadOnlyDictionary<string, ulong> Labels => _labels;

    /// <summary>True when <paramref name="version"/> was deleted (explicitly or by retention).</summary>
    public bool IsDeleted(ulong version) => version < DeletedBefore || _deleted.Contains(version);

    /// <summary>The labels of a version, in ordinal order (empty when it has none).</summary>
    public IReadOnlyCollection<string> LabelsOf(ulong version) =>
        _labelsOf.TryGetValue(version, out var set) ? set : [];

    /// <summary>"blob 7" or "blob 7 (images/base)": how errors name a blob.</summary>
    public static string Describe(BlobState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        return state.Name is null ? $"blob {state.Id}" : $"blob {state.Id} ({state.Name})";
    }

    /// <summary>NotFound when <paramref name="version"/> was deleted: "blob B (name) version v was deleted".</summary>
    public void RequireNotDeleted(BlobState state, ulong version)
    {
        if (IsDeleted(version))
        {
            Throw.NotFound($"{Describe(state)} version {version} was deleted");
        }
    }

    /// <summary>Checks the deletion of one version: it must exist, be published, not be the latest and not be deleted already.</summary>
    public void CheckDeleteVersion(BlobState state, ulong version)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (version > state.LastAssigned)
        {
            Throw.NotFound($"{Describe(state)} has no version {version} (latest published is {state.PublishedVersion})");
        }

        if (!state.IsPublished(version))
        {
            Throw.Error(ErrorCode.FailedPrecondition, $"{Describe(state)} version {version} is not published yet (latest published is {state.PublishedVersion}): only published versions can be deleted");
        }

        RequireNotDeleted(state, version);
        if (version == state.PublishedVersion)
        {
            Throw.Error(ErrorCode.FailedPrecondition, $"{Describe(state)} version {version} is the latest published version: it can only be deleted with the blob");
        }
    }

    /// <summary>
    /// Checks the deletion of every version before <paramref name="before"/>: it must be at most
    /// the latest published version (which stays). Versions deleted already are skipped.
    /// </summary>
    public void CheckDeleteBefore(BlobState state, ulong before)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (before > state.LastAssigned)
        {
            Throw.NotFound($"{Describe(state)} has no version {before} (latest published is {state.PublishedVersion})");
        }

        if (before > state.PublishedVersion)
        {
            Throw.Error(ErrorCode.FailedPrecondition, $"{Describe(state)}: deleting every version before {before} would delete the latest published version {state.PublishedVersion}, which can only be deleted with the blob");
        }
    }

    /// <summary>Marks versions deleted: each of <paramref name="versions"/> and every one before <paramref name="before"/>; drops their labels.</summary>
    public void DeleteVersions(IEnumerable<ulong> versions, ulong before)
    {
        ArgumentNullException.ThrowIfNull(versions);
        if (before > DeletedBefore)
        {
            foreach (var (label, v) in _labels.Where(l => l.Value < before).ToList())
            {
                RemoveLabel(label, v);
            }

            _deleted.RemoveWhere(v => v < before);
            DeletedBefore = before;
        }

        foreach (var v in versions)
        {
            if (IsDeleted(v))
            {
                continue;
            }

            _deleted.Add(v);
            foreach (var label in LabelsOf(v).ToList())
            {
                RemoveLabel(label, v);
            }
        }

        // Keep the explicit list short: a deleted prefix becomes the watermark.
        while (_deleted.Remove(DeletedBefore))
        {
            DeletedBefore++;
        }
    }

    /// <summary>Marks the blob deleted.</summary>
    public void DeleteBlob() => BlobDeleted = true;

    /// <summary>InvalidArgument unless the label is 1–128 characters, without control characters and without white space at either end.</summary>
    public static void ValidateLabel(string? label)
    {
        if (string.IsNullOrEmpty(label))
        {
            Throw.InvalidArgument("a label must not be empty");
        }

        if (label.Length > MaxLabelLength)
        {
            Throw.InvalidArgument($"label of {label.Length} characters is too long: at most {MaxLabelLength}");
        }

        for (var i = 0; i < label.Length; i++)
        {
            var c = label[i];
            var broken = char.IsLowSurrogate(c) || char.IsHighSurrogate(c) && (i + 1 == label.Length || !char.IsLowSurrogate(label[i + 1]));
            if (char.IsControl(c) || broken)
            {
                Throw.InvalidArgument($"label holds a control character or a broken surrogate pair at position {i}: labels are printable text");
            }

            if (char.IsHighSurrogate(c))
            {
                i++;
            }
        }

        if (char.IsWhiteSpace(label[0]) || char.IsWhiteSpace(label[^1]))
        {
            Throw.InvalidArgument($"label '{label}' begins or ends with white space");
        }
    }

    /// <summary>Checks a label for a version: valid, and the version published and not deleted.</summary>
    public void CheckTag(BlobState state, ulong version, string label)
    {
        ArgumentNullException.ThrowIfNull(state);
        ValidateLabel(label);
        if (version > state.LastAssigned)
        {
            Throw.NotFound($"{Describe(state)} has no version {version} (latest published is {state.PublishedVersion})");
        }

        if (!state.IsPublished(version))
        {
            Throw.Error(ErrorCode.FailedPrecondition, $"{Describe(state)} version {version} is not published yet (latest published is {state.PublishedVersion}): only published versions take labels");
        }

        RequireNotDeleted(state, version);
    }

    /// <summary>Puts <paramref name="label"/> on <paramref name="version"/>, moving it from the version that had it; returns that version, or null.</summary>
    public ulong? Tag(ulong version, string label)
    {
        ulong? moved = null;
        if (_labels.TryGetValue(label, out var had))
        {
            if (had == version)
            {
                return null;
            }

            RemoveLabel(label, had);
            moved = had;
        }

        _labels[label] = version;
        if (!_labelsOf.TryGetValue(version, out var set))
        {
            _labelsOf[version] = set = new SortedSet<string>(StringComparer.Ordinal);
        }

        set.Add(label);
        return moved;
    }

    /// <summary>Checks that the blob has the label; NotFound naming it otherwise.</summary>
    public void CheckUntag(BlobState state, string label)
    {
        ArgumentNullException.ThrowIfNull(state);
        ValidateLabel(label);
        if (!_labels.ContainsKey(label))
        {
            Throw.NotFound($"{Describe(state)} has no label '{label}'");
        }
    }

    /// <summary>Takes a label off the blob (nothing if it has none).</summary>
    public void Untag(string label)
    {
        if (_labels.TryGetValue(label, out var version))
        {
            RemoveLabel(label, version);
        }
    }

    private void RemoveLabel(string label, ulong version)
    {
        _labels.Remove(label);
        if (_labelsOf.TryGetValue(version, out var set) && set.Remove(label) && set.Count == 0)
        {
            _labelsOf.Remove(version);
        }
    }

    /// <summary>
    /// The published versions the policy does not retain at <paramref name="nowUnixMs"/>, oldest
    /// first (none without a policy, or once the blob is deleted). Never the latest published.
    /// </summary>
    public IReadOnlyList<ulong> RetentionVictims(BlobState state, long nowUnixMs)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (Policy is not { } policy || BlobDeleted)
        {
            return [];
        }

        var victims = new List<ulong>();
        var kept = 0;
        // Newest first, so "the last N" counts the versions still there.
        for (var v = state.PublishedVersion; v >= DeletedBefore && v <= state.PublishedVersion; v--)
        {
            if (!IsDeleted(v))
            {
                var record = state.Get(v);
                var retained = v == state.PublishedVersion
                    || kept < policy.KeepLast
                    || policy.KeepYoungerThan is { } age && nowUnixMs - record.CreatedUnixMs < (long)age.TotalMilliseconds
                    || policy.KeepTagged && _labelsOf.ContainsKey(v);
                kept++;
                if (!retained)
                {
                    victims.Add(v);
                }
            }

            if (v == 0)
            {
                break;
            }
        }

        victims.Reverse();
        return victims;
    }
}
