"""Pictures and pages of an analysis: the layer graph (Mermaid, Graphviz dot, SVG) and the HTML report."""
