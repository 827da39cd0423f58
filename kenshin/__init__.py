"""kenshin: the domain of the 検診情報システム — plain Python, no Flask."""
