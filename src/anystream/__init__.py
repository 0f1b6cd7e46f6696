"""anystream: composable async stream operators on anyio."""
