using BlobSeer.Core;
using BlobSeer.Core.Trees;
using BlobSeer.Protocol.Messages;
using CoreNodeKey = BlobSeer.Core.Trees.NodeKey;
using WireNodeKey = BlobSeer.Protocol.Messages.NodeKey;

namespace BlobSeer.Protocol;

/// <summary>Conversions between Core value types and wire messages, with validation of what arrives.</summary>
public static class WireConvert
{
    /// <summary>Core key to wire key.</summary>
    public static WireNodeKey ToWire(this CoreNodeKey key) =>
        new() { Blob = key.Blob, Version = key.Version, First = (ulong)key.First, Count = (ulong)key.Count };

    /// <summary>Optional Core key to wire key (null stays null).</summary>
    public static WireNodeKey? ToWire(this CoreNodeKey? key) => key is { } k ? k.ToWire() : null;

    /// <summary>Wire key to Core key; InvalidArgument unless the range is an aligned power of two.</summary>
    public static CoreNodeKey ToCore(this WireNodeKey key)
    {
        if (key.Count == 0 || (key.Count & (key.Count - 1)) != 0 || key.First % key.Count != 0
            || key.First > (ulong)PageGeometry.MaxBlobSize || key.Count > (ulong)PageGeometry.MaxBlobSize)
        {
            Throw.InvalidArgument($"node key blob {key.Blob} v{key.Version} first {key.First} count {key.Count} is not an aligned power-of-two page range");
        }

        return new CoreNodeKey(key.Blob, key.Version, (long)key.First, (long)key.Count);
    }

    /// <summary>Optional wire key to Core key.</summary>
    public static CoreNodeKey? ToCoreOrNull(this WireNodeKey? key) => key is null ? null : key.ToCore();

    /// <summary>
    /// A node a writer built (TreeWriter) as it is stored: an inner node with its children, a leaf
    /// with the page stored for it (<paramref name="page"/>), or an aliasing leaf.
    /// </summary>
    public static TreeNode ToWire(this NewNode node, PageDescriptor? page)
    {
        var wire = new TreeNode { Key = node.Key.ToWire() };
        if (node.IsNoopLeaf)
        {
            if (node.Alias is { } alias)
            {
                wire.Alias = alias.ToWire();
                if (node.AliasLength is { } length)
                {
                    wire.AliasLength = (uint)length;
                }
            }
        }
        else if (node.IsLeaf)
        {
            wire.Page = page ?? throw new BlobSeerException(ErrorCode.Internal, $"leaf {node.Key} was built without its page");
        }
        else
        {
            wire.Left = node.Left.ToWire();
            wire.Right = node.Right.ToWire();
        }

        return wire;
    }

    /// <summary>Core range to wire range.</summary>
    public static Messages.ByteRange ToWire(this Core.ByteRange range) =>
        new() { Offset = (ulong)range.Offset, Length = (ulong)range.Length };

    /// <summary>Wire range to Core range; InvalidArgument if it does not fit the blob size limit.</summary>
    public static Core.ByteRange ToCore(this Messages.ByteRange range)
    {
        if (range.Offset > (ulong)PageGeometry.MaxBlobSize || range.Length > (ulong)PageGeometry.MaxBlobSize)
        {
            Throw.InvalidArgument($"byte range offset {range.Offset} length {range.Length} is past the {PageGeometry.MaxBlobSize}-byte limit");
        }

        return new Core.ByteRange((long)range.Offset, (long)range.Length);
    }
}
