"""`tdm`: the tree-based deep model (Zhu et al., 2018) as a retriever."""
