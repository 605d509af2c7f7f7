"""Feature families: each is fit on train + test cells and written as one table per family."""
