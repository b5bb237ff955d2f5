"""The synthetic H&M world: a shop simulated week by week, written in the Kaggle file format,
with the true purchase probabilities kept so the best achievable MAP@12 is known."""
