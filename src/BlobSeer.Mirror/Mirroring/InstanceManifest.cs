using System.Text.Json;
using System.Text.Json.Serialization;
using BlobSeer.Core;

namespace BlobSeer.Mirror.Mirroring;

/// <summary>
/// What an instance directory holds (<c>instance.json</c>): which image it mirrors, the version its
/// present chunks equal (the base), and the blob its snapshots go to. Replaced atomically.
/// </summary>
internal sealed record InstanceManifest
{
    public const int CurrentFormat = 1;

    public int Format { get; init; } = CurrentFormat;

    /// <summary>The image as the user named it when the instance was created (a blob name or id).</summary>
    public required string Image { get; init; }

    /// <summary>The image blob and version the instance was created from.</summary>
    public required ulong ImageBlob { get; init; }

    public required ulong ImageVersion { get; init; }

    public required long Size { get; init; }

    public required int ChunkSize { get; init; }

    /// <summary>The blob and version that present chunks equal; moves to each snapshot.</summary>
    public required ulong BaseBlob { get; init; }

    public required ulong BaseVersion { get; init; }

    /// <summary>The clone that holds this instance's snapshots, once the first snapshot made it.</summary>
    public ulong? SnapshotBlob { get; init; }

    public string? SnapshotBlobName { get; init; }

    public bool ReadOnly { get; init; }

    public DateTimeOffset Created { get; init; } = DateTimeOffset.UtcNow;

    public static InstanceManifest? Load(string path)
    {
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            var manifest = JsonSerializer.Deserialize(File.ReadAllBytes(path), ManifestJson.Default.InstanceManifest)
                ?? throw new JsonException("empty manifest");
            if (manifest.Format != CurrentFormat)
            {
                throw new BlobSeerException(ErrorCode.FailedPrecondition, $"{path}: instance format {manifest.Format}, this build reads {CurrentFormat}");
            }

            return manifest;
        }
        catch (JsonException e)
        {
            throw new BlobSeerException(ErrorCode.DataLoss, $"{path} is not a readable instance manifest: {e.Message}", e);
        }
    }

    /// <summary>Writes to a temporary file, flushes it, and renames it over the old one.</summary>
    public void Save(string path)
    {
        var temp = path + ".tmp";
        using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            JsonSerializer.Serialize(file, this, ManifestJson.Default.InstanceManifest);
            file.Flush(flushToDisk: true);
        }

        File.Move(temp, path, overwrite: true);
    }
}

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(InstanceManifest))]
internal sealed partial class ManifestJson : JsonSerializerContext;
