"""Names of the synthetic catalogue: the category vocabulary of H&M's article metadata.

Only category names are used (the kind of words printed on any shop's website), never rows of the
competition data. Product types are grouped by product group and carry the garment group and the
index groups that sell them, which is what ties customer taste (age, gender) to the catalogue.
"""

from __future__ import annotations

# index code -> (index name, index group name, index group no)
INDEXES = {
    "A": ("Ladieswear", "Ladieswear", 1),
    "B": ("Lingeries/Tights", "Ladieswear", 1),
    "C": ("Ladies Accessories", "Ladieswear", 1),
    "D": ("Divided", "Divided", 2),
    "F": ("Menswear", "Menswear", 3),
    "G": ("Baby Sizes 50-98", "Baby/Children", 4),
    "H": ("Children Sizes 92-140", "Baby/Children", 4),
    "I": ("Children Sizes 134-170", "Baby/Children", 4),
    "J": ("Children Accessories, Swimwear", "Baby/Children", 4),
    "S": ("Sport", "Sport", 26),
}
INDEX_GROUPS = ("Ladieswear", "Divided", "Menswear", "Baby/Children", "Sport")
# share of the catalogue (articles) in each index group, as in the real data
CATALOGUE_SHARE = (0.38, 0.15, 0.12, 0.32, 0.03)
# which index codes a product of each index group is filed under
INDEX_CODES = {
    "Ladieswear": ("A", "A", "A", "B", "C"),
    "Divided": ("D",),
    "Menswear": ("F",),
    "Baby/Children": ("G", "H", "I", "J"),
    "Sport": ("S",),
}

GARMENT_GROUPS = (
    "Jersey Fancy", "Accessories", "Jersey Basic", "Knitwear", "Under-, Nightwear", "Trousers", "Blouses",
    "Shoes", "Dresses Ladies", "Outdoor", "Unknown", "Trousers Denim", "Swimwear", "Socks and Tights",
    "Shirts", "Woven/Jersey/Knitted mix Baby", "Shorts", "Dresses/Skirts girls", "Special Offers", "Dressed",
    "Skirts",
)

# product group -> [(product type, garment group, price tier index, demand weight)]
# demand weight: how much of a shopper's attention the type draws, relative to its catalogue size
PRODUCT_TYPES: dict[str, list[tuple[str, str, int, float]]] = {
    "Garment Upper body": [
        ("Top", "Jersey Fancy", 1, 1.4), ("T-shirt", "Jersey Basic", 0, 1.3), ("Sweater", "Knitwear", 3, 1.5),
        ("Blouse", "Blouses", 2, 1.1), ("Shirt", "Shirts", 2, 0.9), ("Vest top", "Jersey Basic", 0, 1.2),
        ("Hoodie", "Jersey Fancy", 3, 1.0), ("Cardigan", "Knitwear", 3, 0.8), ("Jacket", "Outdoor", 5, 0.7),
        ("Blazer", "Dressed", 5, 0.5), ("Coat", "Outdoor", 6, 0.4), ("Polo shirt", "Jersey Basic", 2, 0.4),
        ("Bodysuit", "Jersey Basic", 1, 0.7), ("Tailored Waistcoat", "Dressed", 4, 0.2),
        ("Outdoor Waistcoat", "Outdoor", 5, 0.2),
    ],
    "Garment Lower body": [
        ("Trousers", "Trousers", 3, 1.6), ("Shorts", "Shorts", 2, 0.8), ("Skirt", "Skirts", 2, 0.8),
        ("Leggings/Tights", "Jersey Basic", 1, 0.9), ("Outdoor trousers", "Outdoor", 4, 0.2),
    ],
    "Garment Full body": [
        ("Dress", "Dresses Ladies", 3, 1.5), ("Jumpsuit/Playsuit", "Jersey Fancy", 3, 0.4),
        ("Dungarees", "Trousers Denim", 3, 0.2), ("Garment Set", "Woven/Jersey/Knitted mix Baby", 2, 0.5),
        ("Outdoor overall", "Outdoor", 5, 0.2), ("Costumes", "Special Offers", 2, 0.1),
    ],
    "Underwear": [
        ("Bra", "Under-, Nightwear", 2, 1.3), ("Underwear bottom", "Under-, Nightwear", 0, 1.2),
        ("Underwear Tights", "Socks and Tights", 0, 0.6), ("Underwear body", "Under-, Nightwear", 2, 0.2),
        ("Kids Underwear top", "Under-, Nightwear", 0, 0.3), ("Underwear set", "Under-, Nightwear", 2, 0.1),
        ("Long John", "Under-, Nightwear", 1, 0.1), ("Bra extender", "Under-, Nightwear", 0, 0.05),
        ("Underwear corset", "Under-, Nightwear", 3, 0.05), ("Nipple covers", "Under-, Nightwear", 0, 0.05),
        ("Underdress", "Under-, Nightwear", 2, 0.05),
    ],
    "Swimwear": [
        ("Bikini top", "Swimwear", 1, 0.8), ("Swimwear bottom", "Swimwear", 0, 0.8), ("Swimsuit", "Swimwear", 2, 0.4),
        ("Swimwear set", "Swimwear", 2, 0.2), ("Swimwear top", "Swimwear", 1, 0.1), ("Sarong", "Swimwear", 1, 0.05),
    ],
    "Socks & Tights": [("Socks", "Socks and Tights", 0, 0.8), ("Leg warmers", "Socks and Tights", 0, 0.05)],
    "Nightwear": [
        ("Pyjama set", "Under-, Nightwear", 2, 0.5), ("Pyjama bottom", "Under-, Nightwear", 1, 0.2),
        ("Night gown", "Under-, Nightwear", 2, 0.1), ("Robe", "Under-, Nightwear", 3, 0.1),
        ("Pyjama jumpsuit/playsuit", "Under-, Nightwear", 2, 0.1),
    ],
    "Shoes": [
        ("Sneakers", "Shoes", 4, 0.5), ("Boots", "Shoes", 5, 0.3), ("Sandals", "Shoes", 3, 0.3),
        ("Ballerinas", "Shoes", 3, 0.1), ("Other shoe", "Shoes", 3, 0.2), ("Slippers", "Shoes", 1, 0.1),
        ("Heeled sandals", "Shoes", 4, 0.1), ("Pumps", "Shoes", 4, 0.1), ("Flat shoe", "Shoes", 3, 0.1),
        ("Wedge", "Shoes", 4, 0.05), ("Flip flop", "Shoes", 0, 0.05), ("Bootie", "Shoes", 4, 0.05),
        ("Pre-walkers", "Shoes", 1, 0.05), ("Moccasins", "Shoes", 3, 0.02),
    ],
    "Accessories": [
        ("Bag", "Accessories", 3, 0.3), ("Earring", "Accessories", 0, 0.4), ("Hat/beanie", "Accessories", 1, 0.3),
        ("Scarf", "Accessories", 1, 0.2), ("Hair/alice band", "Accessories", 0, 0.2), ("Belt", "Accessories", 1, 0.2),
        ("Necklace", "Accessories", 1, 0.2), ("Sunglasses", "Accessories", 1, 0.2), ("Hair clip", "Accessories", 0, 0.2),
        ("Gloves", "Accessories", 1, 0.1), ("Cap/peaked", "Accessories", 1, 0.1), ("Hair string", "Accessories", 0, 0.2),
        ("Other accessories", "Accessories", 1, 0.1), ("Hat/brim", "Accessories", 2, 0.05), ("Bracelet", "Accessories", 0, 0.05),
        ("Ring", "Accessories", 0, 0.05), ("Watch", "Accessories", 3, 0.02), ("Tie", "Accessories", 1, 0.02),
        ("Wallet", "Accessories", 1, 0.05), ("Beanie", "Accessories", 1, 0.05), ("Straw hat", "Accessories", 1, 0.02),
        ("Felt hat", "Accessories", 2, 0.02), ("Alice band", "Accessories", 0, 0.02), ("Hair ties", "Accessories", 0, 0.05),
        ("Bucket hat", "Accessories", 1, 0.02), ("Headband", "Accessories", 0, 0.02), ("Tote bag", "Accessories", 1, 0.02),
        ("Backpack", "Accessories", 3, 0.02), ("Shoulder bag", "Accessories", 3, 0.02), ("Cross-body bag", "Accessories", 3, 0.02),
        ("Weekend/Gym bag", "Accessories", 3, 0.02), ("Earrings", "Accessories", 0, 0.02), ("Umbrella", "Accessories", 2, 0.01),
        ("Braces", "Accessories", 1, 0.01), ("Accessories set", "Accessories", 1, 0.02), ("Keychain", "Accessories", 0, 0.01),
        ("Mobile case", "Accessories", 0, 0.01), ("Eyeglasses", "Accessories", 1, 0.01), ("Bumbag", "Accessories", 1, 0.01),
    ],
    "Underwear/nightwear": [("Sleep Bag", "Under-, Nightwear", 2, 0.05), ("Sleeping sack", "Under-, Nightwear", 2, 0.02)],
    "Cosmetic": [("Fine cosmetics", "Accessories", 1, 0.02), ("Chem. cosmetics", "Accessories", 0, 0.01), ("Clothing mist", "Accessories", 0, 0.01)],
    "Bags": [("Bag", "Accessories", 3, 0.02)],
    "Items": [("Umbrella", "Accessories", 2, 0.01), ("Waterbottle", "Accessories", 0, 0.01), ("Wireless earphone case", "Accessories", 0, 0.01), ("Dog Wear", "Special Offers", 1, 0.01)],
    "Furniture": [("Side table", "Special Offers", 4, 0.005)],
    "Garment and Shoe care": [("Stain remover spray", "Accessories", 0, 0.005), ("Washing bag", "Accessories", 0, 0.005), ("Sewing kit", "Accessories", 0, 0.005), ("Zipper head", "Accessories", 0, 0.005)],
    "Stationery": [("Marker pen", "Special Offers", 0, 0.005)],
    "Interior textile": [("Blanket", "Special Offers", 2, 0.005), ("Cushion", "Special Offers", 2, 0.005), ("Towel", "Special Offers", 1, 0.005)],
    "Fun": [("Toy", "Special Offers", 1, 0.005), ("Soft Toys", "Special Offers", 1, 0.005), ("Wood balls", "Special Offers", 1, 0.005)],
    "Unknown": [("Unknown", "Unknown", 1, 0.01), ("Giftbox", "Special Offers", 1, 0.005), ("Baby Bib", "Woven/Jersey/Knitted mix Baby", 0, 0.01)],
}

# list prices in local currency; article price = tier / 590 (the competition's scaling), discounted
PRICE_TIERS = (9.99, 12.99, 19.99, 24.99, 29.99, 39.99, 59.99, 99.99, 199.99, 349.99)

# colour group (name, code) -> perceived colour master index; the master list and its shares of sales
COLOUR_MASTERS = (
    ("Black", 0.27), ("White", 0.14), ("Blue", 0.12), ("Beige", 0.08), ("Grey", 0.06), ("Pink", 0.07),
    ("Red", 0.04), ("Khaki green", 0.04), ("Brown", 0.02), ("Lilac Purple", 0.02), ("Mole", 0.02),
    ("Orange", 0.02), ("Yellow", 0.02), ("Green", 0.02), ("Turquoise", 0.01), ("Metal", 0.01),
    ("Yellowish Green", 0.005), ("Bluish Green", 0.005), ("undefined", 0.003), ("Unknown", 0.002),
)
COLOUR_GROUPS = (
    ("Black", 9, 0), ("White", 10, 1), ("Off White", 11, 1), ("Light Beige", 12, 3), ("Beige", 13, 3),
    ("Dark Beige", 14, 3), ("Light Grey", 6, 4), ("Grey", 7, 4), ("Dark Grey", 8, 4), ("Light Blue", 71, 2),
    ("Blue", 72, 2), ("Dark Blue", 73, 2), ("Other Blue", 70, 2), ("Light Pink", 51, 5), ("Pink", 52, 5),
    ("Dark Pink", 53, 5), ("Other Pink", 50, 5), ("Light Red", 41, 6), ("Red", 42, 6), ("Dark Red", 43, 6),
    ("Other Red", 40, 6), ("Light Orange", 31, 11), ("Orange", 32, 11), ("Dark Orange", 33, 11),
    ("Other Orange", 30, 11), ("Light Yellow", 21, 12), ("Yellow", 22, 12), ("Dark Yellow", 23, 12),
    ("Other Yellow", 20, 12), ("Light Green", 61, 13), ("Green", 62, 13), ("Dark Green", 63, 7),
    ("Other Green", 60, 13), ("Greenish Khaki", 19, 7), ("Yellowish Green", 25, 16), ("Light Turquoise", 81, 14),
    ("Turquoise", 82, 14), ("Dark Turquoise", 83, 17), ("Other Turquoise", 80, 14), ("Light Purple", 91, 9),
    ("Purple", 92, 9), ("Dark Purple", 93, 9), ("Other Purple", 90, 9), ("Yellowish Brown", 15, 8),
    ("Greyish Beige", 16, 10), ("Bronze/Copper", 17, 15), ("Gold", 3, 15), ("Silver", 5, 15),
    ("Transparent", 2, 18), ("Unknown", -1, 19),
)
PERCEIVED_VALUES = ("Dark", "Light", "Dusty Light", "Medium Dusty", "Bright", "Medium", "Undefined", "Unknown")
GRAPHICAL_APPEARANCES = (
    "Solid", "All over pattern", "Melange", "Stripe", "Denim", "Front print", "Placement print", "Check",
    "Lace", "Jacquard", "Colour blocking", "Glittering/Metallic", "Application/3D", "Embroidery",
    "Mixed solid/pattern", "Dot", "Other structure", "Contrast", "Treatment", "Chambray", "Sequin", "Mesh",
    "Slub", "Neps", "Metallic", "Hologram", "Other pattern", "Transparent", "Argyle", "Unknown",
)
NAME_WORDS = (
    "Basic", "Slim", "Relaxed", "Ribbed", "Soft", "Linen", "Denim", "Cotton", "Oversized", "Cropped", "Wide",
    "Tie-front", "Frill", "Lace", "Knit", "Fleece", "Velour", "Satin", "Pleated", "Striped", "Printed", "Padded",
)
FABRICS = ("cotton jersey", "soft knit", "woven fabric", "washed denim", "ribbed jersey", "airy linen blend", "satin")
