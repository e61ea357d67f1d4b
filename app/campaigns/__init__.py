"""Creating campaigns, reviewing their recipients and dispatching them."""
