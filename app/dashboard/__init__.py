"""The dashboard, the home page after sign-in: how the last days went, read
from the hourly rollup (app.campaigns.rollup), with what is sending now."""
