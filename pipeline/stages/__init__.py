"""pipeline/stages"""
