"""Qt-free core: types, jobs, the project model and the on-disk mask store."""
