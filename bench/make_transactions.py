"""Write a synthetic transaction log in the Online Retail layout (InvoiceNo,
StockCode, Description, Quantity, InvoiceDate, UnitPrice, CustomerID,
Country) with N rows, for bench/ingest.sh.  Descriptions contain commas and
quotes, as the real file does, so the CSV needs RFC 4180 quoting."""
import sys
import numpy as np
import pandas as pd

n = int(sys.argv[1])
out = sys.argv[2]
rng = np.random.default_rng(1)
customers = rng.integers(12000, 12000 + max(n // 100, 10), n)
items = rng.integers(0, 20000, n)
invoice = 500000 + np.arange(n) // 20
seconds = np.sort(rng.integers(0, 365 * 86400, n))
dates = (np.datetime64("2010-12-01T00:00:00") + seconds.astype("timedelta64[s]")).astype(str)
words = np.array(['WHITE HANGING HEART', 'SET OF 3 CAKE TINS, "VINTAGE"', 'GLASS STAR, FROSTED', 'LUNCH BAG RED'])
df = pd.DataFrame({
    "InvoiceNo": invoice.astype(str),
    "StockCode": np.char.add("S", items.astype(str)),
    "Description": words[items % len(words)],
    "Quantity": rng.integers(1, 24, n),
    "InvoiceDate": np.char.replace(dates, "T", " "),
    "UnitPrice": np.round(rng.uniform(0.1, 20.0, n), 2),
    "CustomerID": customers,
    "Country": "United Kingdom",
})
df.to_csv(out, index=False)
