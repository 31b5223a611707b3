"""Small transformer probes trained on candidate mixes."""
