"""Pure learning stage: snapshot tensors in, trained link predictor, metrics, candidates and calibration out."""
