"""Host side: needs the host toolchain (MindSpore, onnx; `pip install "coat-export[export]"`).

Export and its verification, the MindSpore runners, parity checks against the source network
with first-divergence localisation, quantization and bundle writing.
"""
