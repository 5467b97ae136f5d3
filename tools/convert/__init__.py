"""Converters from pinned registry packages to the ONNX files Rosto runs."""
