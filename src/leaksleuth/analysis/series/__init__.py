"""Runtime series analysis: segments, growth detectors, fleet verdicts from metrics."""
