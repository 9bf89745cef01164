using Onnx;

namespace Serverless.Inference.Onnx;

/// <summary>Walks a graph and the subgraphs of its nodes (If branches, Loop and Scan bodies), depth first, in order.</summary>
internal static class GraphWalker
{
    public static IEnumerable<GraphProto> AllGraphs(GraphProto root)
    {
        yield return root;
        foreach (var node in root.Node)
        {
            foreach (var sub in Subgraphs(node))
            {
                foreach (var g in AllGraphs(sub))
                    yield return g;
            }
        }
    }

    public static IEnumerable<GraphProto> Subgraphs(NodeProto node)
    {
        foreach (var attribute in node.Attribute)
        {
            if (attribute.G is { } g)
                yield return g;
            foreach (var graph in attribute.Graphs)
                yield return graph;
        }
    }
}
