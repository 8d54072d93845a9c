"""The test suite: real onnxruntime, dlib, PyAV, a real Gradio server driven by gradio_client, a real Chromium."""
