"""The data feed: customers, orders, products, product groups, custom fields in."""
