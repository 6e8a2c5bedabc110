#!/usr/bin/env python3
"""Writes logreg16_sample_pandas.parquet: the rows of logreg16_sample.csv
as pandas writes them to Parquet with the dtypes users have (int32 ids, a
`category` column, which becomes an Arrow dictionary, a float32 feature,
timestamps), for the Parquet test in compiler/tests/batch.rs.

usage: python3 tests/data/make_parquet.py   (needs: pip install pandas pyarrow)
"""
import os

import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))

df = pd.read_csv(os.path.join(HERE, "logreg16_sample.csv"))
df["id"] = df["id"].astype("int32")
df["name"] = df["name"].astype("category")
df["f0"] = df["f0"].astype("float32")
df["when"] = pd.Timestamp("2026-11-24 10:00:00") + pd.to_timedelta(df.index, unit="s")
df.to_parquet(os.path.join(HERE, "logreg16_sample_pandas.parquet"), engine="pyarrow", index=False)
